package record

import (
	"encoding/binary"
	"math"
)

// Msgpack format bytes, from the MessagePack specification
// (https://github.com/msgpack/msgpack/blob/master/spec.md).
const (
	mpNil      = 0xc0
	mpFalse    = 0xc2
	mpTrue     = 0xc3
	mpFloat64  = 0xcb
	mpUint8    = 0xcc
	mpUint16   = 0xcd
	mpUint32   = 0xce
	mpUint64   = 0xcf
	mpInt8     = 0xd0
	mpInt16    = 0xd1
	mpInt32    = 0xd2
	mpInt64    = 0xd3
	mpFixExt8  = 0xd7
	mpStr8     = 0xd9
	mpStr16    = 0xda
	mpStr32    = 0xdb
	mpArray16  = 0xdc
	mpArray32  = 0xdd
	mpMap16    = 0xde
	mpMap32    = 0xdf
	mpFixMap   = 0x80
	mpFixArray = 0x90
	mpFixStr   = 0xa0
)

func appendStrHeader(dst []byte, n int) []byte {
	switch {
	case n < 32:
		return append(dst, mpFixStr|byte(n))
	case n <= math.MaxUint8:
		return append(dst, mpStr8, byte(n))
	case n <= math.MaxUint16:
		return append(dst, mpStr16, byte(n>>8), byte(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, mpStr32), uint32(n))
}

func appendStr(dst []byte, s string) []byte {
	return append(appendStrHeader(dst, len(s)), s...)
}

func appendStrBytes(dst []byte, s []byte) []byte {
	return append(appendStrHeader(dst, len(s)), s...)
}

// containerHeaderSize returns the size of the msgpack map or array header for n entries.
func containerHeaderSize(n int) int {
	switch {
	case n < 16:
		return 1
	case n <= math.MaxUint16:
		return 3
	}
	return 5
}

// putContainerHeader writes the map or array header for n entries into dst, which has exactly
// containerHeaderSize(n) bytes. fix is mpFixMap or mpFixArray.
func putContainerHeader(dst []byte, fix byte, n int) {
	big16, big32 := byte(mpMap16), byte(mpMap32)
	if fix == mpFixArray {
		big16, big32 = mpArray16, mpArray32
	}
	switch len(dst) {
	case 1:
		dst[0] = fix | byte(n)
	case 3:
		dst[0] = big16
		binary.BigEndian.PutUint16(dst[1:], uint16(n))
	default:
		dst[0] = big32
		binary.BigEndian.PutUint32(dst[1:], uint32(n))
	}
}

func appendMapHeader(dst []byte, n int) []byte {
	size := containerHeaderSize(n)
	dst = append(dst, make([]byte, size)...)
	putContainerHeader(dst[len(dst)-size:], mpFixMap, n)
	return dst
}

func appendUint(dst []byte, v uint64) []byte {
	switch {
	case v < 128:
		return append(dst, byte(v))
	case v <= math.MaxUint8:
		return append(dst, mpUint8, byte(v))
	case v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, mpUint16), uint16(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, mpUint32), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, mpUint64), v)
}

// appendNegInt appends v, which is negative.
func appendNegInt(dst []byte, v int64) []byte {
	switch {
	case v >= -32:
		return append(dst, byte(v))
	case v >= math.MinInt8:
		return append(dst, mpInt8, byte(v))
	case v >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(dst, mpInt16), uint16(v))
	case v >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(dst, mpInt32), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, mpInt64), uint64(v))
}

func appendFloat64(dst []byte, f float64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, mpFloat64), math.Float64bits(f))
}
