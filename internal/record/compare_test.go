package record

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"testing"

	jsoniter "github.com/json-iterator/go"

	"github.com/edgeaudit/fluent-bit-okta/internal/schema"
)

// This file holds two other decoders, built on encoding/json and json-iterator/go, that
// produce the same records as SplitPage, so that BenchmarkPage1000 can be compared with them.
// Both locate each event first and then read it again to transcode it, because neither
// library exposes the byte offsets of a value while it streams. Neither removes duplicate
// keys; the sample events have none.

// bodyBuilder collects one event's transcoded members.
type bodyBuilder struct {
	t      transcoder // only t.out and finishContainer are used
	ev     Event
	fields int
}

func (bb *bodyBuilder) topLevel(key string) (keep bool) {
	switch key {
	case SchemaField, OrgField, OriginalDataField:
		return false
	}
	bb.fields++
	return true
}

func (bb *bodyBuilder) pickID(key, value string) {
	switch key {
	case "uuid":
		bb.ev.UUID = value
	case "eventType":
		bb.ev.EventType = value
	case "published":
		bb.ev.Published = parsePublished(value)
	}
}

// appendNumber appends a JSON number with the same rules as the scanner.
func (bb *bodyBuilder) appendNumber(text string) error {
	num := transcoder{in: []byte(text), out: bb.t.out}
	if err := num.number(); err != nil {
		return err
	}
	if num.pos != len(text) {
		return fmt.Errorf("invalid number %q", text)
	}
	bb.t.out = num.out
	return nil
}

func (bb *bodyBuilder) encode(m *schema.Map, enc *Encoder, dst []byte, raw []byte) ([]byte,
	error) {
	bb.ev.Raw = raw
	bb.ev.body = bb.t.out
	bb.ev.fields = bb.fields
	if bb.ev.body == nil {
		bb.ev.body = []byte{}
	}
	var err error
	for _, name := range m.Schemas(bb.ev.EventType) {
		if dst, err = enc.AppendRecord(dst, &bb.ev, name, bb.ev.Published); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// decodeWithEncodingJSON reads each event as a json.RawMessage and transcodes it from the
// encoding/json token stream.
func decodeWithEncodingJSON(page []byte, m *schema.Map, enc *Encoder, dst []byte) ([]byte,
	int, error) {
	dec := json.NewDecoder(bytes.NewReader(page))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return dst, 0, fmt.Errorf("page is not an array: %v", err)
	}
	n := 0
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return dst, 0, err
		}

		var bb bodyBuilder
		events := json.NewDecoder(bytes.NewReader(raw))
		events.UseNumber()
		if tok, err := events.Token(); err != nil || tok != json.Delim('{') {
			return dst, 0, fmt.Errorf("event %d is not an object: %v", n, err)
		}
		for events.More() {
			tok, err := events.Token()
			if err != nil {
				return dst, 0, err
			}
			key := tok.(string)
			start := len(bb.t.out)
			bb.t.out = appendStr(bb.t.out, key)
			value, err := events.Token()
			if err != nil {
				return dst, 0, err
			}
			if s, ok := value.(string); ok {
				bb.pickID(key, s)
			}
			if err := bb.stdValue(events, value); err != nil {
				return dst, 0, err
			}
			if !bb.topLevel(key) {
				bb.t.out = bb.t.out[:start]
			}
		}
		if _, err := events.Token(); err != nil {
			return dst, 0, err
		}

		var err error
		if dst, err = bb.encode(m, enc, dst, raw); err != nil {
			return dst, 0, err
		}
		n++
	}
	if _, err := dec.Token(); err != nil {
		return dst, 0, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return dst, 0, fmt.Errorf("data after the page array: %v", err)
	}
	return dst, n, nil
}

func (bb *bodyBuilder) stdValue(dec *json.Decoder, tok json.Token) error {
	switch v := tok.(type) {
	case json.Delim:
		headerAt := len(bb.t.out)
		bb.t.out = append(bb.t.out, 0)
		count := 0
		for dec.More() {
			next, err := dec.Token()
			if err != nil {
				return err
			}
			if v == '{' {
				bb.t.out = appendStr(bb.t.out, next.(string))
				if next, err = dec.Token(); err != nil {
					return err
				}
			}
			if err := bb.stdValue(dec, next); err != nil {
				return err
			}
			count++
		}
		if _, err := dec.Token(); err != nil {
			return err
		}
		fix := byte(mpFixArray)
		if v == '{' {
			fix = mpFixMap
		}
		bb.t.finishContainer(headerAt, true, fix, count)
	case string:
		bb.t.out = appendStr(bb.t.out, v)
	case json.Number:
		return bb.appendNumber(string(v))
	case bool:
		if v {
			bb.t.out = append(bb.t.out, mpTrue)
		} else {
			bb.t.out = append(bb.t.out, mpFalse)
		}
	case nil:
		bb.t.out = append(bb.t.out, mpNil)
	}
	return nil
}

// decodeWithJsoniter locates each event with Iterator.SkipAndReturnBytes and transcodes it
// with a second Iterator.
func decodeWithJsoniter(page []byte, m *schema.Map, enc *Encoder, dst []byte) ([]byte, int,
	error) {
	iter := jsoniter.ConfigDefault.BorrowIterator(page)
	defer jsoniter.ConfigDefault.ReturnIterator(iter)
	events := jsoniter.ConfigDefault.BorrowIterator(nil)
	defer jsoniter.ConfigDefault.ReturnIterator(events)

	n := 0
	var err error
	iter.ReadArrayCB(func(iter *jsoniter.Iterator) bool {
		raw := iter.SkipAndReturnBytes()
		if iter.Error != nil {
			return false
		}

		var bb bodyBuilder
		events.ResetBytes(raw)
		events.ReadMapCB(func(it *jsoniter.Iterator, key string) bool {
			start := len(bb.t.out)
			bb.t.out = appendStr(bb.t.out, key)
			if it.WhatIsNext() == jsoniter.StringValue {
				s := it.ReadString()
				bb.pickID(key, s)
				bb.t.out = appendStr(bb.t.out, s)
			} else if err = bb.iterValue(it); err != nil {
				return false
			}
			if !bb.topLevel(key) {
				bb.t.out = bb.t.out[:start]
			}
			return true
		})
		if err != nil {
			return false
		}
		if events.Error != nil && events.Error != io.EOF {
			err = events.Error
			return false
		}
		if dst, err = bb.encode(m, enc, dst, raw); err != nil {
			return false
		}
		n++
		return true
	})
	if err == nil && iter.Error != nil && iter.Error != io.EOF {
		err = iter.Error
	}
	return dst, n, err
}

func (bb *bodyBuilder) iterValue(it *jsoniter.Iterator) error {
	var err error
	switch it.WhatIsNext() {
	case jsoniter.ObjectValue:
		headerAt := len(bb.t.out)
		bb.t.out = append(bb.t.out, 0)
		count := 0
		it.ReadMapCB(func(it *jsoniter.Iterator, key string) bool {
			bb.t.out = appendStr(bb.t.out, key)
			count++
			err = bb.iterValue(it)
			return err == nil
		})
		bb.t.finishContainer(headerAt, true, mpFixMap, count)
	case jsoniter.ArrayValue:
		headerAt := len(bb.t.out)
		bb.t.out = append(bb.t.out, 0)
		count := 0
		it.ReadArrayCB(func(it *jsoniter.Iterator) bool {
			count++
			err = bb.iterValue(it)
			return err == nil
		})
		bb.t.finishContainer(headerAt, true, mpFixArray, count)
	case jsoniter.StringValue:
		bb.t.out = appendStr(bb.t.out, it.ReadString())
	case jsoniter.NumberValue:
		err = bb.appendNumber(string(it.ReadNumber()))
	case jsoniter.BoolValue:
		if it.ReadBool() {
			bb.t.out = append(bb.t.out, mpTrue)
		} else {
			bb.t.out = append(bb.t.out, mpFalse)
		}
	case jsoniter.NilValue:
		it.ReadNil()
		bb.t.out = append(bb.t.out, mpNil)
	default:
		return fmt.Errorf("invalid JSON value: %v", it.Error)
	}
	if err == nil && it.Error != nil && it.Error != io.EOF {
		err = it.Error
	}
	return err
}

func TestOtherDecodersMatchScanner(t *testing.T) {
	page := samplePage(t, 200)
	m := schema.Default()
	enc := Encoder{OrgHost: "example.okta.com", OriginalData: true}

	want, n, err := decodeWithScanner(page, m, &enc, nil)
	if err != nil || n != 200 {
		t.Fatalf("scanner: %d events, %v", n, err)
	}
	for name, decode := range map[string]pageDecoder{
		"encoding/json": decodeWithEncodingJSON,
		"jsoniter":      decodeWithJsoniter,
	} {
		got, n, err := decode(page, m, &enc, nil)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if n != 200 {
			t.Errorf("%s: %d events, want 200", name, n)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: records differ from the scanner's (%d and %d bytes)", name,
				len(got), len(want))
		}
	}
}
