//go:build !purego

#include "textflag.h"

// func addMulVVW(z, x []uint64, y uint64) (carry uint64)
//
// z[i] += x[i]·y with MULQ, one carry chain; the fallback for CPUs
// without BMI2 and ADX.
TEXT ·addMulVVW(SB), NOSPLIT, $0-64
	MOVQ z_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	MOVQ y+48(FP), R8
	XORQ BX, BX // carry
	XORQ R9, R9 // i

amvLoop:
	CMPQ R9, CX
	JGE  amvDone
	MOVQ (SI)(R9*8), AX
	MULQ R8
	ADDQ BX, AX
	ADCQ $0, DX
	ADDQ AX, (DI)(R9*8)
	ADCQ $0, DX
	MOVQ DX, BX
	INCQ R9
	JMP  amvLoop

amvDone:
	MOVQ BX, carry+56(FP)
	RET

// MULADD4 adds DX·src[0:4] into dst[0:4], src at R11 and dst at R12,
// and advances both. The low halves of the products ride the CF chain
// (ADCX), the high halves the OF chain (ADOX), so neither waits for the
// other. The pending high half alternates between R13 (in and out) and BX.
// Clobbers AX.
#define MULADD4 \
	MULXQ 0(R11), AX, BX;   \
	ADCXQ 0(R12), AX;       \
	ADOXQ R13, AX;          \
	MOVQ  AX, 0(R12);       \
	MULXQ 8(R11), AX, R13;  \
	ADCXQ 8(R12), AX;       \
	ADOXQ BX, AX;           \
	MOVQ  AX, 8(R12);       \
	MULXQ 16(R11), AX, BX;  \
	ADCXQ 16(R12), AX;      \
	ADOXQ R13, AX;          \
	MOVQ  AX, 16(R12);      \
	MULXQ 24(R11), AX, R13; \
	ADCXQ 24(R12), AX;      \
	ADOXQ BX, AX;           \
	MOVQ  AX, 24(R12);      \
	LEAQ  32(R11), R11;     \
	LEAQ  32(R12), R12

// Loops inside a carry chain count with LEAQ and JCXZQ, which leave the
// flags alone.

// func mulADX(t, x, y *uint64, k int)
TEXT ·mulADX(SB), NOSPLIT, $0-32
	MOVQ t+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ y+16(FP), R8
	MOVQ k+24(FP), R9
	XORQ R14, R14

	// t[:k] = 0; t[k:2k] is written by the rows' carries.
	MOVQ DI, R12
	MOVQ R9, CX

mulClear:
	MOVQ R14, 0(R12)
	LEAQ 8(R12), R12
	DECQ CX
	JNZ  mulClear

	// Row i: t[i:i+k] += x·y[i], t[i+k] = carry.
	MOVQ R9, R10

mulRow:
	MOVQ 0(R8), DX
	MOVQ SI, R11
	MOVQ DI, R12
	MOVQ R9, CX
	SHRQ $2, CX
	XORQ R13, R13 // also clears CF and OF

mulBlock:
	MULADD4
	LEAQ  -1(CX), CX
	JCXZQ mulRowEnd
	JMP   mulBlock

mulRowEnd:
	ADCXQ R14, R13
	ADOXQ R14, R13
	MOVQ  R13, 0(R12)
	LEAQ  8(R8), R8
	LEAQ  8(DI), DI
	DECQ  R10
	JNZ   mulRow
	RET

// func sqrADX(t, x *uint64, k int)
TEXT ·sqrADX(SB), NOSPLIT, $0-24
	MOVQ t+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ k+16(FP), R9
	XORQ R14, R14

	// t[:2k] = 0
	MOVQ DI, R12
	LEAQ (R9)(R9*1), CX

sqrClear:
	MOVQ R14, 0(R12)
	LEAQ 8(R12), R12
	DECQ CX
	JNZ  sqrClear

	// Row i (0 ≤ i < k-1): t[2i+1:i+k] += x[i+1:k]·x[i], t[i+k] = carry.
	// Its length k-1-i is rarely a multiple of 4: single limbs first.
	MOVQ SI, R8         // &x[i]
	LEAQ 8(DI), R10     // &t[2i+1]
	LEAQ -1(R9), R15    // row length

sqrRow:
	MOVQ 0(R8), DX
	LEAQ 8(R8), R11
	MOVQ R10, R12
	MOVQ R15, CX
	ANDQ $3, CX
	MOVQ R15, SI
	SHRQ $2, SI
	XORQ R13, R13

sqrSingle:
	JCXZQ sqrBlocks
	MULXQ 0(R11), AX, BX
	ADCXQ 0(R12), AX
	ADOXQ R13, AX
	MOVQ  AX, 0(R12)
	MOVQ  BX, R13
	LEAQ  8(R11), R11
	LEAQ  8(R12), R12
	LEAQ  -1(CX), CX
	JMP   sqrSingle

sqrBlocks:
	MOVQ SI, CX

sqrBlock:
	JCXZQ sqrRowEnd
	MULADD4
	LEAQ  -1(CX), CX
	JMP   sqrBlock

sqrRowEnd:
	ADCXQ R14, R13
	ADOXQ R14, R13
	MOVQ  R13, 0(R12)
	LEAQ  8(R8), R8
	LEAQ  16(R10), R10
	DECQ  R15
	JNZ   sqrRow

	// t = 2t + Σ x[i]²·2^(128i): the doubling rides CF, the squares OF.
	MOVQ t+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ k+16(FP), CX
	XORQ AX, AX

sqrDiag:
	JCXZQ sqrDone
	MOVQ  0(SI), DX
	MULXQ DX, AX, BX
	MOVQ  0(DI), R11
	MOVQ  8(DI), R12
	ADCXQ R11, R11
	ADCXQ R12, R12
	ADOXQ AX, R11
	ADOXQ BX, R12
	MOVQ  R11, 0(DI)
	MOVQ  R12, 8(DI)
	LEAQ  8(SI), SI
	LEAQ  16(DI), DI
	LEAQ  -1(CX), CX
	JMP   sqrDiag

sqrDone:
	RET

// func reduceADX(z, t, n *uint64, k int, n0 uint64)
TEXT ·reduceADX(SB), NOSPLIT, $0-40
	MOVQ t+8(FP), DI
	MOVQ n+16(FP), SI
	MOVQ k+24(FP), R9
	MOVQ n0+32(FP), R8
	XORQ R14, R14
	XORQ R15, R15 // carry owed to t[i+k]

	// Row i: m = t[i]·n0, t[i:i+k] += n·m (which zeroes t[i]), then the
	// row's carry and R15 go into t[i+k], its carry out into R15.
	MOVQ R9, R10

redRow:
	MOVQ  0(DI), DX
	IMULQ R8, DX
	MOVQ  SI, R11
	MOVQ  DI, R12
	MOVQ  R9, CX
	SHRQ  $2, CX
	XORQ  R13, R13

redBlock:
	MULADD4
	LEAQ  -1(CX), CX
	JCXZQ redRowEnd
	JMP   redBlock

redRowEnd:
	MOVQ  0(R12), AX
	ADCXQ R15, AX
	ADOXQ R13, AX
	MOVQ  AX, 0(R12)
	MOVQ  R14, R15
	ADCXQ R14, R15
	ADOXQ R14, R15
	LEAQ  8(DI), DI
	DECQ  R10
	JNZ   redRow

	// The result is R15·R + t[k:2k] (DI points at t[k]), below 2n:
	// z = result - n, unless that borrows.
	MOVQ z+0(FP), R12
	MOVQ DI, R11
	MOVQ SI, BX
	MOVQ R9, CX
	SHRQ $2, CX
	XORQ AX, AX // CF = 0

redSub:
	JCXZQ redSubEnd
	MOVQ  0(R11), AX
	SBBQ  0(BX), AX
	MOVQ  AX, 0(R12)
	MOVQ  8(R11), AX
	SBBQ  8(BX), AX
	MOVQ  AX, 8(R12)
	MOVQ  16(R11), AX
	SBBQ  16(BX), AX
	MOVQ  AX, 16(R12)
	MOVQ  24(R11), AX
	SBBQ  24(BX), AX
	MOVQ  AX, 24(R12)
	LEAQ  32(R11), R11
	LEAQ  32(BX), BX
	LEAQ  32(R12), R12
	LEAQ  -1(CX), CX
	JMP   redSub

redSubEnd:
	SBBQ $0, R15
	JCC  redDone

	// It borrowed: the result was already below n.
	MOVQ z+0(FP), R12
	MOVQ R9, CX

redCopy:
	MOVQ 0(DI), AX
	MOVQ AX, 0(R12)
	LEAQ 8(DI), DI
	LEAQ 8(R12), R12
	DECQ CX
	JNZ  redCopy

redDone:
	RET
