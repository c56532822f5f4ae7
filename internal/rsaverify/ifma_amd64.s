//go:build !purego

#include "textflag.h"

// func ammIFMA(z, a, b, n *uint64, k0 uint64)
//
// One almost-Montgomery multiplication over 40 limbs of 52 bits:
// z = (a·b + m·n) / 2²⁰⁸⁰ for the m that makes the division exact, with
// z's limbs normalized (< 2⁵²). With a, b < 2n and n < 2²⁰⁴⁸ the result
// is below 2n as well, so it can be fed back in without a subtraction.
//
// The accumulator lives in Z0-Z4 (limbs 0-39) with 64-bit lanes that are
// left unnormalized: per b limb each lane gains at most four 52-bit
// halves, so 40 rounds stay below 2⁶⁰. a is in Z6-Z10, n in Z11-Z15 and
// n shifted down one limb in Z18-Z22.
//
// Each round's m depends on the one before through limb 0 only, so the
// round is arranged to keep that chain short: limb 0 is read into a
// scalar register, m and limb 0's carry (R13) are computed there, and
// while they are the accumulator is shifted down a limb and the m-free
// products added. What is left after m is two multiply-adds: the low
// halves of m·n land one limb down, hence the shifted copy of n. Limb 0
// in Z0 never holds the carry; it is added to the scalar copy instead.
//
// z may alias a or b: a is loaded first and z written last.
TEXT ·ammIFMA(SB), NOSPLIT, $0-40
	MOVQ z+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), BX
	MOVQ n+24(FP), DX
	MOVQ k0+32(FP), R8
	MOVQ $0xfffffffffffff, R9 // 2⁵²-1
	MOVQ (DX), R10            // n[0]
	XORQ R13, R13             // carry into limb 0

	VPXORQ    Z31, Z31, Z31
	VMOVDQU64 0(SI), Z6
	VMOVDQU64 64(SI), Z7
	VMOVDQU64 128(SI), Z8
	VMOVDQU64 192(SI), Z9
	VMOVDQU64 256(SI), Z10
	VMOVDQU64 0(DX), Z11
	VMOVDQU64 64(DX), Z12
	VMOVDQU64 128(DX), Z13
	VMOVDQU64 192(DX), Z14
	VMOVDQU64 256(DX), Z15
	VALIGNQ   $1, Z11, Z12, Z18
	VALIGNQ   $1, Z12, Z13, Z19
	VALIGNQ   $1, Z13, Z14, Z20
	VALIGNQ   $1, Z14, Z15, Z21
	VALIGNQ   $1, Z15, Z31, Z22

	// acc = low halves of a·b[0]
	VPBROADCASTQ (BX), Z16
	VPXORQ       Z0, Z0, Z0
	VPXORQ       Z1, Z1, Z1
	VPXORQ       Z2, Z2, Z2
	VPXORQ       Z3, Z3, Z3
	VPXORQ       Z4, Z4, Z4
	VPMADD52LUQ  Z16, Z6, Z0
	VPMADD52LUQ  Z16, Z7, Z1
	VPMADD52LUQ  Z16, Z8, Z2
	VPMADD52LUQ  Z16, Z9, Z3
	VPMADD52LUQ  Z16, Z10, Z4

	MOVQ $40, CX

ammLoop:
	// m = limb 0 · k0 mod 2⁵², which clears limb 0's low 52 bits once
	// m·n[0] is added; R13 = what limb 0 then carries into limb 1.
	VMOVQ        X0, AX
	ADDQ         R13, AX
	MOVQ         AX, R11
	IMULQ        R8, R11
	ANDQ         R9, R11
	VPBROADCASTQ R11, Z17
	MOVQ         R11, R13
	IMULQ        R10, R13
	ANDQ         R9, R13
	ADDQ         AX, R13
	SHRQ         $52, R13

	// acc /= 2⁵²: drop limb 0, shift the others down one lane.
	VALIGNQ $1, Z0, Z1, Z0
	VALIGNQ $1, Z1, Z2, Z1
	VALIGNQ $1, Z2, Z3, Z2
	VALIGNQ $1, Z3, Z4, Z3
	VALIGNQ $1, Z4, Z31, Z4

	// High halves of a·b[i] were one limb up: after the shift, in place.
	VPMADD52HUQ Z16, Z6, Z0
	VPMADD52HUQ Z16, Z7, Z1
	VPMADD52HUQ Z16, Z8, Z2
	VPMADD52HUQ Z16, Z9, Z3
	VPMADD52HUQ Z16, Z10, Z4

	ADDQ $8, BX
	DECQ CX
	JZ   ammLast

	// Low halves of a·b[i+1], for the next round.
	VPBROADCASTQ (BX), Z16
	VPMADD52LUQ  Z16, Z6, Z0
	VPMADD52LUQ  Z16, Z7, Z1
	VPMADD52LUQ  Z16, Z8, Z2
	VPMADD52LUQ  Z16, Z9, Z3
	VPMADD52LUQ  Z16, Z10, Z4

	// m·n, shifted: low halves from n one limb down, high in place.
	VPMADD52LUQ Z17, Z18, Z0
	VPMADD52LUQ Z17, Z19, Z1
	VPMADD52LUQ Z17, Z20, Z2
	VPMADD52LUQ Z17, Z21, Z3
	VPMADD52LUQ Z17, Z22, Z4
	VPMADD52HUQ Z17, Z11, Z0
	VPMADD52HUQ Z17, Z12, Z1
	VPMADD52HUQ Z17, Z13, Z2
	VPMADD52HUQ Z17, Z14, Z3
	VPMADD52HUQ Z17, Z15, Z4
	JMP         ammLoop

ammLast:
	VPMADD52LUQ Z17, Z18, Z0
	VPMADD52LUQ Z17, Z19, Z1
	VPMADD52LUQ Z17, Z20, Z2
	VPMADD52LUQ Z17, Z21, Z3
	VPMADD52LUQ Z17, Z22, Z4
	VPMADD52HUQ Z17, Z11, Z0
	VPMADD52HUQ Z17, Z12, Z1
	VPMADD52HUQ Z17, Z13, Z2
	VPMADD52HUQ Z17, Z14, Z3
	VPMADD52HUQ Z17, Z15, Z4

	VMOVDQU64 Z0, 0(DI)
	VMOVDQU64 Z1, 64(DI)
	VMOVDQU64 Z2, 128(DI)
	VMOVDQU64 Z3, 192(DI)
	VMOVDQU64 Z4, 256(DI)
	VZEROUPPER

	// Normalize to 52-bit limbs, starting with the last round's carry
	// into limb 0. The value is below 2n < 2²⁰⁸⁰, so nothing carries out
	// of limb 39.
	MOVQ $40, CX

normLoop:
	MOVQ (DI), AX
	ADDQ R13, AX
	MOVQ AX, R13
	SHRQ $52, R13
	ANDQ R9, AX
	MOVQ AX, (DI)
	ADDQ $8, DI
	DECQ CX
	JNZ  normLoop
	RET
