package record

import (
	"encoding/binary"
	"fmt"
	"math"
	"unicode/utf8"
)

// This file holds a strict msgpack decoder for the tests. It accepts only what a record may
// contain: nil, bool, int, float64, valid UTF-8 str, array, map with str keys and no duplicate
// keys, and ext type 0 with 8 bytes. It rejects bin, other ext types, float32 and trailing
// bytes.

// pair is one member of a decoded map.
type pair struct {
	Key   string
	Value any
}

// orderedMap is a decoded msgpack map with its members in wire order.
type orderedMap []pair

// get returns the value of key and whether it is present.
func (m orderedMap) get(key string) (any, bool) {
	for _, p := range m {
		if p.Key == key {
			return p.Value, true
		}
	}
	return nil, false
}

func (m orderedMap) keys() []string {
	keys := make([]string, len(m))
	for i, p := range m {
		keys[i] = p.Key
	}
	return keys
}

// eventTime is a decoded ext type 0.
type eventTime struct {
	Seconds, Nanos uint32
}

// decodedRecord is one Fluent Bit V2 record.
type decodedRecord struct {
	Time     eventTime
	Metadata orderedMap
	Body     orderedMap
}

type mpDecoder struct {
	data []byte
	pos  int
}

// decodeRecords decodes a buffer of concatenated records and checks their V2 shape.
func decodeRecords(data []byte) ([]decodedRecord, error) {
	d := &mpDecoder{data: data}
	var records []decodedRecord
	for d.pos < len(d.data) {
		v, err := d.value(0)
		if err != nil {
			return nil, err
		}
		rec, err := checkRecord(v)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", len(records), err)
		}
		records = append(records, rec)
	}
	return records, nil
}

func checkRecord(v any) (decodedRecord, error) {
	outer, ok := v.([]any)
	if !ok || len(outer) != 2 {
		return decodedRecord{}, fmt.Errorf("record is %T %v, want a 2-element array", v, v)
	}
	header, ok := outer[0].([]any)
	if !ok || len(header) != 2 {
		return decodedRecord{}, fmt.Errorf("header is %T, want [EventTime, {}]", outer[0])
	}
	ts, ok := header[0].(eventTime)
	if !ok {
		return decodedRecord{}, fmt.Errorf("timestamp is %T, want EventTime", header[0])
	}
	meta, ok := header[1].(orderedMap)
	if !ok {
		return decodedRecord{}, fmt.Errorf("metadata is %T, want a map", header[1])
	}
	body, ok := outer[1].(orderedMap)
	if !ok {
		return decodedRecord{}, fmt.Errorf("body is %T, want a map", outer[1])
	}
	return decodedRecord{Time: ts, Metadata: meta, Body: body}, nil
}

func (d *mpDecoder) take(n int) ([]byte, error) {
	if n < 0 || d.pos+n > len(d.data) {
		return nil, fmt.Errorf("truncated msgpack at byte %d: need %d bytes", d.pos, n)
	}
	b := d.data[d.pos : d.pos+n]
	d.pos += n
	return b, nil
}

func (d *mpDecoder) uintN(n int) (uint64, error) {
	b, err := d.take(n)
	if err != nil {
		return 0, err
	}
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v, nil
}

func (d *mpDecoder) value(depth int) (any, error) {
	if depth > 200 {
		return nil, fmt.Errorf("msgpack nested deeper than 200")
	}
	b, err := d.take(1)
	if err != nil {
		return nil, err
	}
	c := b[0]
	switch {
	case c <= 0x7f:
		return int64(c), nil
	case c >= 0xe0:
		return int64(int8(c)), nil
	case c&0xf0 == mpFixMap:
		return d.mapN(int(c&0x0f), depth)
	case c&0xf0 == mpFixArray:
		return d.arrayN(int(c&0x0f), depth)
	case c&0xe0 == mpFixStr:
		return d.strN(int(c & 0x1f))
	}
	switch c {
	case mpNil:
		return nil, nil
	case mpFalse:
		return false, nil
	case mpTrue:
		return true, nil
	case mpUint8, mpUint16, mpUint32, mpUint64:
		v, err := d.uintN(1 << (c - mpUint8))
		if err != nil {
			return nil, err
		}
		if v <= math.MaxInt64 {
			return int64(v), nil
		}
		return v, nil
	case mpInt8, mpInt16, mpInt32, mpInt64:
		size := 1 << (c - mpInt8)
		v, err := d.uintN(size)
		if err != nil {
			return nil, err
		}
		shift := 64 - 8*size
		return int64(v<<shift) >> shift, nil
	case mpFloat64:
		v, err := d.uintN(8)
		if err != nil {
			return nil, err
		}
		return math.Float64frombits(v), nil
	case mpStr8, mpStr16, mpStr32:
		n, err := d.uintN(1 << (c - mpStr8))
		if err != nil {
			return nil, err
		}
		return d.strN(int(n))
	case mpArray16, mpArray32:
		n, err := d.uintN(2 << (c - mpArray16))
		if err != nil {
			return nil, err
		}
		return d.arrayN(int(n), depth)
	case mpMap16, mpMap32:
		n, err := d.uintN(2 << (c - mpMap16))
		if err != nil {
			return nil, err
		}
		return d.mapN(int(n), depth)
	case mpFixExt8:
		b, err := d.take(9)
		if err != nil {
			return nil, err
		}
		if b[0] != 0 {
			return nil, fmt.Errorf("ext type %d at byte %d, want only type 0", b[0], d.pos-10)
		}
		return eventTime{binary.BigEndian.Uint32(b[1:]), binary.BigEndian.Uint32(b[5:])}, nil
	}
	return nil, fmt.Errorf("msgpack code %#02x at byte %d is not allowed in a record", c, d.pos-1)
}

func (d *mpDecoder) strN(n int) (any, error) {
	b, err := d.take(n)
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("str %q at byte %d is not valid UTF-8", b, d.pos-n)
	}
	return string(b), nil
}

func (d *mpDecoder) arrayN(n int, depth int) (any, error) {
	if n > len(d.data)-d.pos {
		return nil, fmt.Errorf("array of %d elements exceeds the buffer", n)
	}
	out := make([]any, 0, n)
	for range n {
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (d *mpDecoder) mapN(n int, depth int) (any, error) {
	if n > len(d.data)-d.pos {
		return nil, fmt.Errorf("map of %d members exceeds the buffer", n)
	}
	out := make(orderedMap, 0, n)
	seen := make(map[string]bool, n)
	for range n {
		k, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		key, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("map key %v is %T, want str", k, k)
		}
		if seen[key] {
			return nil, fmt.Errorf("duplicate map key %q", key)
		}
		seen[key] = true
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out = append(out, pair{key, v})
	}
	return out, nil
}
