package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// The database holds password hashes and sealed secrets: its files are
// readable by their owner only, whatever the umask.
const (
	fileMode = 0o600
	dirMode  = 0o700
)

// secureFiles makes the database's directory (0700) if it is missing,
// creates the database file 0600 if it is missing (SQLite then gives the
// -wal and -shm files the same mode), and tightens existing database,
// -wal, -shm and lock files that group or others may read, logging each
// once. An existing directory is left as it is: it may be shared on
// purpose (a project directory holding tollgate.db), and the files are
// protected either way.
func secureFiles(abs string, log *slog.Logger) error {
	dir := filepath.Dir(abs)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return fmt.Errorf("create directory: %w", err)
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, fileMode)
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	f.Close()
	for _, p := range []string{abs, abs + "-wal", abs + "-shm", abs + ".lock"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, fileMode); err != nil {
			return fmt.Errorf("restrict %s to its owner: %w", p, err)
		}
		log.Info("restricted database file to its owner", "file", p, "was", fmt.Sprintf("%04o", fi.Mode().Perm()), "now", "0600")
	}
	return nil
}
