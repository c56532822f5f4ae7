package main

import (
	"bufio"
	"debug/buildinfo"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The deployment files in the repository are checked without Docker or a
// cluster: they parse, every Tollgate node's environment is a valid serve
// configuration with the intended listeners, probes point at ports that
// exist, and the Dockerfile's build command makes the release binary.

const repoRoot = "../.."

// checkNodeEnv loads a node's environment as serve would and checks its
// listeners: gateway nodes serve the gateway on all interfaces and keep the
// management listener on loopback; the control node serves the management
// API. Secrets referenced from outside get test values.
func checkNodeEnv(t *testing.T, where string, env map[string]string) serveConfig {
	t.Helper()
	for k, v := range env {
		if !strings.HasPrefix(k, "TOLLGATE_") {
			t.Errorf("%s: %s is not a Tollgate setting", where, k)
		}
		if v == "" {
			t.Errorf("%s: %s is empty (the environment cannot turn a listener off with an empty value; use off)", where, k)
		}
	}
	cfg, err := loadServeConfig(nil, fakeEnv(env))
	if err != nil {
		t.Fatalf("%s: not a valid serve configuration: %v", where, err)
	}
	if !strings.HasPrefix(cfg.Database, "postgres://") {
		t.Errorf("%s: database %q: several nodes need PostgreSQL", where, cfg.Database)
	}
	if cfg.Redis == "" {
		t.Errorf("%s: no redis: rate limits would count per node", where)
	}
	return cfg
}

func TestComposeFile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "deploy/compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Environment map[string]string `yaml:"environment"`
			Ports       []string          `yaml:"ports"`
			DependsOn   map[string]any    `yaml:"depends_on"`
			Healthcheck map[string]any    `yaml:"healthcheck"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	for _, want := range []string{"control", "gateway-1", "gateway-2", "postgres", "redis"} {
		if _, ok := doc.Services[want]; !ok {
			t.Errorf("compose.yaml has no service %q", want)
		}
	}
	for _, dep := range []string{"postgres", "redis"} {
		if doc.Services[dep].Healthcheck == nil {
			t.Errorf("%s has no healthcheck, so depends_on cannot wait for it", dep)
		}
	}
	// Compose's ${VAR:?message} interpolation, with test values.
	interp := regexp.MustCompile(`\$\{([A-Z_]+)(:\?[^}]*)?\}`)
	gateways := 0
	for name, svc := range doc.Services {
		if svc.Image != "tollgate:latest" {
			continue
		}
		env := map[string]string{}
		for k, v := range svc.Environment {
			env[k] = interp.ReplaceAllStringFunc(v, func(m string) string {
				if strings.Contains(m, "MASTER_KEY") {
					return "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
				}
				return "test-admin-key-0123456789abcdef"
			})
		}
		cfg := checkNodeEnv(t, "compose service "+name, env)
		if svc.DependsOn["postgres"] == nil {
			t.Errorf("%s does not wait for postgres", name)
		}
		switch {
		case strings.HasPrefix(name, "gateway"):
			gateways++
			if cfg.GatewayAddr != "0.0.0.0:8000" || cfg.ManagementAddr != "127.0.0.1:8001" || cfg.IdentityAddr != "" || cfg.PortalAddr != "" {
				t.Errorf("%s listeners: gateway %q management %q identity %q portal %q", name, cfg.GatewayAddr, cfg.ManagementAddr, cfg.IdentityAddr, cfg.PortalAddr)
			}
		case name == "control":
			if cfg.ManagementAddr != "0.0.0.0:8001" || cfg.IdentityAddr != "0.0.0.0:8003" {
				t.Errorf("control listeners: management %q identity %q", cfg.ManagementAddr, cfg.IdentityAddr)
			}
		}
	}
	if gateways != 2 {
		t.Errorf("%d gateway nodes, want 2", gateways)
	}
}

type k8sObject struct {
	APIVersion string                `yaml:"apiVersion"`
	Kind       string                `yaml:"kind"`
	Metadata   struct{ Name string } `yaml:"metadata"`
	Data       map[string]string     `yaml:"data"`
	Spec       struct {
		Replicas int       `yaml:"replicas"`
		Selector yaml.Node `yaml:"selector"`
		Ports    []struct {
			Name       string `yaml:"name"`
			TargetPort string `yaml:"targetPort"`
		} `yaml:"ports"`
		Template struct {
			Metadata struct{ Labels map[string]string } `yaml:"metadata"`
			Spec     struct {
				SecurityContext struct {
					RunAsNonRoot bool `yaml:"runAsNonRoot"`
				} `yaml:"securityContext"`
				Containers []k8sContainer `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
	Exec *struct {
		Command []string `yaml:"command"`
	} `yaml:"exec"`
}

type k8sContainer struct {
	Name    string `yaml:"name"`
	EnvFrom []struct {
		ConfigMapRef struct{ Name string } `yaml:"configMapRef"`
	} `yaml:"envFrom"`
	Env []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef struct{ Name, Key string } `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
}

func TestKubernetesManifests(t *testing.T) {
	f, err := os.Open(filepath.Join(repoRoot, "deploy/kubernetes/tollgate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(bufio.NewReader(f))
	var objs []k8sObject
	for {
		var o k8sObject
		if err := dec.Decode(&o); err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("tollgate.yaml document %d: %v", len(objs)+1, err)
		}
		if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
			t.Fatalf("document %d lacks apiVersion, kind or metadata.name", len(objs)+1)
		}
		objs = append(objs, o)
	}
	configMaps := map[string]map[string]string{}
	for _, o := range objs {
		if o.Kind == "ConfigMap" {
			configMaps[o.Metadata.Name] = o.Data
		}
	}
	portsOf := map[string]map[string]bool{} // component label -> port names
	replicas := map[string]int{}
	for _, o := range objs {
		if o.Kind != "Deployment" {
			continue
		}
		component := o.Spec.Template.Metadata.Labels["app.kubernetes.io/component"]
		replicas[component] = o.Spec.Replicas
		if !o.Spec.Template.Spec.SecurityContext.RunAsNonRoot {
			t.Errorf("%s may run as root", o.Metadata.Name)
		}
		for _, c := range o.Spec.Template.Spec.Containers {
			env := map[string]string{}
			for _, ef := range c.EnvFrom {
				cm, ok := configMaps[ef.ConfigMapRef.Name]
				if !ok {
					t.Errorf("%s: no ConfigMap %q", o.Metadata.Name, ef.ConfigMapRef.Name)
				}
				for k, v := range cm {
					env[k] = v
				}
			}
			for _, e := range c.Env {
				switch {
				case e.ValueFrom == nil:
					env[e.Name] = e.Value
				case e.ValueFrom.SecretKeyRef.Key == "database":
					env[e.Name] = "postgres://tollgate:secret@postgres:5432/tollgate"
				case e.ValueFrom.SecretKeyRef.Key == "master-key":
					env[e.Name] = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
				default:
					env[e.Name] = "test-admin-key-0123456789abcdef"
				}
			}
			cfg := checkNodeEnv(t, o.Metadata.Name, env)
			portsOf[component] = map[string]bool{}
			for _, p := range c.Ports {
				portsOf[component][p.Name] = true
			}
			for what, p := range map[string]*k8sProbe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
				switch {
				case p == nil:
					t.Errorf("%s has no %s probe", o.Metadata.Name, what)
				case p.HTTPGet != nil:
					if !portsOf[component][p.HTTPGet.Port] || (p.HTTPGet.Path != "/health" && p.HTTPGet.Path != "/ready") {
						t.Errorf("%s %s probe %+v: no such port or path", o.Metadata.Name, what, *p.HTTPGet)
					}
					if !strings.HasPrefix(cfg.ManagementAddr, "0.0.0.0:") {
						t.Errorf("%s: an HTTP probe needs the management listener on the pod address, not %q", o.Metadata.Name, cfg.ManagementAddr)
					}
				case p.Exec != nil:
					cmd := p.Exec.Command
					if len(cmd) != 3 || cmd[0] != "/usr/local/bin/tollgate" || cmd[1] != "health" || !strings.HasPrefix(cmd[2], "http://"+cfg.ManagementAddr+"/") {
						t.Errorf("%s %s probe %v does not check this node's management listener %s", o.Metadata.Name, what, cmd, cfg.ManagementAddr)
					}
				}
			}
		}
	}
	if replicas["gateway"] < 2 || replicas["control"] != 1 {
		t.Errorf("replicas = %v, want 2+ gateways and 1 control node", replicas)
	}
	for _, o := range objs {
		if o.Kind != "Service" {
			continue
		}
		var sel map[string]string
		o.Spec.Selector.Decode(&sel)
		ports := portsOf[sel["app.kubernetes.io/component"]]
		if ports == nil {
			t.Errorf("service %s selects no deployment (%v)", o.Metadata.Name, sel)
		}
		for _, p := range o.Spec.Ports {
			if !ports[p.TargetPort] {
				t.Errorf("service %s targets port %q that its pods do not have", o.Metadata.Name, p.TargetPort)
			}
		}
	}
}

// dockerfile returns the Dockerfile's instructions (continuations joined).
func dockerfile(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	cur := ""
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		cur += line
		if strings.TrimSpace(cur) != "" {
			out = append(out, strings.Join(strings.Fields(cur), " "))
		}
		cur = ""
	}
	return out
}

func TestDockerfile(t *testing.T) {
	ins := dockerfile(t)
	var froms []string
	var build, user, health, envLine string
	for _, in := range ins {
		switch word, rest, _ := strings.Cut(in, " "); word {
		case "FROM":
			froms = append(froms, rest)
		case "RUN":
			if strings.Contains(rest, "go build") {
				build = rest
			}
		case "USER":
			user = rest
		case "HEALTHCHECK":
			health = rest
		case "ENV":
			envLine = rest
		}
	}
	gomod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)`).FindSubmatch(gomod)
	if len(froms) != 2 || !strings.HasPrefix(froms[0], "golang:"+string(goVersion[1])) {
		t.Errorf("builder %q does not use go.mod's Go %s", froms, goVersion[1])
	}
	if len(froms) == 2 && !strings.Contains(froms[1], "distroless/static") && froms[1] != "scratch" {
		t.Errorf("final stage %q is not distroless static or scratch", froms[1])
	}
	if user == "" || strings.HasPrefix(user, "0") || strings.HasPrefix(user, "root") {
		t.Errorf("USER %q: the image must run as a non-root user", user)
	}
	if !strings.Contains(health, `"health"`) {
		t.Errorf("HEALTHCHECK %q does not use tollgate health", health)
	}
	env := map[string]string{}
	for _, kv := range regexp.MustCompile(`(\w+)=(\S+)`).FindAllStringSubmatch(envLine, -1) {
		env[kv[1]] = kv[2]
	}
	if _, err := loadServeConfig(nil, fakeEnv(env)); err != nil {
		t.Errorf("the image's ENV is not a valid serve configuration: %v", err)
	}
	for _, want := range []string{"CGO_ENABLED=0 ", " -trimpath", `-ldflags="-s -w"`, "./cmd/tollgate"} {
		if !strings.Contains(build, want) {
			t.Errorf("build command %q lacks %q", build, want)
		}
	}
	if testing.Short() || build == "" {
		return
	}
	// Run the recipe's build command as it is written, with the output
	// moved to a temporary directory, and check the binary it makes.
	out := filepath.Join(t.TempDir(), "tollgate")
	args := shellWords(build)
	var envs []string
	for len(args) > 0 && strings.Contains(args[0], "=") && !strings.HasPrefix(args[0], "-") {
		envs = append(envs, args[0])
		args = args[1:]
	}
	for i, a := range args {
		if a == "-o" && i+1 < len(args) {
			args[i+1] = out
		}
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), envs...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", build, err, b)
	}
	bi, err := buildinfo.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	// (Go does not record -ldflags when -trimpath is set; the symbol
	// tables' absence below shows -s -w took effect.)
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("binary build settings %v", settings)
	}
	if bi.Path != "github.com/tollgate/tollgate/cmd/tollgate" || bi.Main.Path != "github.com/tollgate/tollgate" {
		t.Errorf("binary is %s of module %s", bi.Path, bi.Main.Path)
	}
	ef, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary is dynamically linked; the distroless static image cannot run it")
		}
	}
	for _, sec := range ef.Sections {
		if sec.Name == ".symtab" || strings.HasPrefix(sec.Name, ".debug_") {
			t.Errorf("the binary has %s: it was not stripped (-ldflags=\"-s -w\")", sec.Name)
		}
	}
	if v, err := exec.Command(out, "version").Output(); err != nil || !strings.HasPrefix(string(v), "tollgate ") {
		t.Errorf("tollgate version: %q, %v", v, err)
	}
}

// shellWords splits a command line as sh would, for the subset the
// Dockerfile uses: words separated by spaces, double quotes grouping.
func shellWords(s string) []string {
	var out []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			inWord = true
		case r == ' ' && !quoted:
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}
