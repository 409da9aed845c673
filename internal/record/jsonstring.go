package record

import (
	"encoding/binary"
	"unicode/utf16"
	"unicode/utf8"
)

// Byte masks for skipPlainASCII.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// skipPlainASCII returns the offset of the first byte at or after i that is a quote, a
// backslash, a control character or not ASCII, testing eight bytes per step.
func skipPlainASCII(in []byte, i int) int {
	for ; i+8 <= len(in); i += 8 {
		x := binary.LittleEndian.Uint64(in[i:])
		quote := x ^ (ones * '"')
		backslash := x ^ (ones * '\\')
		// (y - ones*n) & ^y has a high bit set exactly when some byte of y is below n, so a
		// zero byte of quote or backslash, or a byte of x below 0x20, sets one. The high
		// bit of x itself marks a non-ASCII byte.
		special := (quote - ones) & ^quote
		special |= (backslash - ones) & ^backslash
		special |= (x - ones*0x20) & ^x
		if (special|x)&highs != 0 {
			break
		}
	}
	return i
}

// stringPayload returns the offset of the bytes of the msgpack str that starts at at.
func stringPayload(out []byte, at int) int {
	switch out[at] {
	case mpStr8:
		return at + 2
	case mpStr16:
		return at + 3
	case mpStr32:
		return at + 5
	}
	return at + 1
}

// str transcodes the JSON string at the current position to a msgpack str and returns the
// offsets of its UTF-8 bytes in the output. Invalid UTF-8 and control characters are
// rejected, as RFC 8259 sections 7 and 8.1 require.
func (t *transcoder) str() (int, int, error) {
	t.pos++ // '"'
	start := t.pos
	i := skipPlainASCII(t.in, start)
	ascii := true
	for ; i < len(t.in); i++ {
		c := t.in[i]
		if c == '"' || c == '\\' || c < 0x20 {
			break
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	if i >= len(t.in) {
		t.pos = start - 1
		return 0, 0, t.fail("unterminated string")
	}
	if t.in[i] == '"' {
		raw := t.in[start:i]
		if !ascii && !utf8.Valid(raw) {
			return 0, 0, t.invalidUTF8(start, raw)
		}
		t.pos = i + 1
		t.out = appendStrHeader(t.out, len(raw))
		payload := len(t.out)
		t.out = append(t.out, raw...)
		return payload, len(t.out), nil
	}
	if t.in[i] < 0x20 {
		t.pos = i
		return 0, 0, t.fail("control character %#02x in string: escape it as \\u%04x",
			t.in[i], t.in[i])
	}

	t.pos = start
	if err := t.unescape(); err != nil {
		return 0, 0, err
	}
	t.out = appendStrHeader(t.out, len(t.scratch))
	payload := len(t.out)
	t.out = append(t.out, t.scratch...)
	return payload, len(t.out), nil
}

func (t *transcoder) invalidUTF8(start int, raw []byte) error {
	for len(raw) > 0 {
		r, size := utf8.DecodeRune(raw)
		if r == utf8.RuneError && size <= 1 {
			break
		}
		start += size
		raw = raw[size:]
	}
	t.pos = start
	return t.fail("invalid UTF-8 byte %#02x in string", t.in[start])
}

// unescape decodes the string that starts at the current position into t.scratch and moves
// past the closing quote. Lone UTF-16 surrogates in \u escapes become U+FFFD, as in
// encoding/json.
func (t *transcoder) unescape() error {
	t.scratch = t.scratch[:0]
	for {
		runStart := t.pos
		for t.pos < len(t.in) {
			c := t.in[t.pos]
			if c == '"' || c == '\\' || c < 0x20 {
				break
			}
			t.pos++
		}
		run := t.in[runStart:t.pos]
		if !utf8.Valid(run) {
			return t.invalidUTF8(runStart, run)
		}
		t.scratch = append(t.scratch, run...)

		if t.pos >= len(t.in) {
			return t.fail("unterminated string")
		}
		switch c := t.in[t.pos]; {
		case c == '"':
			t.pos++
			return nil
		case c < 0x20:
			return t.fail("control character %#02x in string: escape it as \\u%04x", c, c)
		}

		// A backslash.
		if t.pos+1 >= len(t.in) {
			return t.fail("unterminated escape in string")
		}
		esc := t.in[t.pos+1]
		switch esc {
		case '"', '\\', '/':
			t.scratch = append(t.scratch, esc)
		case 'b':
			t.scratch = append(t.scratch, '\b')
		case 'f':
			t.scratch = append(t.scratch, '\f')
		case 'n':
			t.scratch = append(t.scratch, '\n')
		case 'r':
			t.scratch = append(t.scratch, '\r')
		case 't':
			t.scratch = append(t.scratch, '\t')
		case 'u':
			if err := t.unicodeEscape(); err != nil {
				return err
			}
			continue
		default:
			return t.fail("invalid escape %q in string", t.in[t.pos:t.pos+2])
		}
		t.pos += 2
	}
}

// unicodeEscape decodes the \uXXXX escape at the current position, with its low surrogate
// when it is a high surrogate.
func (t *transcoder) unicodeEscape() error {
	r, ok := hex4(t.in, t.pos+2)
	if !ok {
		return t.fail("invalid \\u escape in string, expected four hex digits")
	}
	t.pos += 6
	if utf16.IsSurrogate(r) {
		low, ok := hex4(t.in, t.pos+2)
		if ok && t.pos+1 < len(t.in) && t.in[t.pos] == '\\' && t.in[t.pos+1] == 'u' {
			if pair := utf16.DecodeRune(r, low); pair != utf8.RuneError {
				t.pos += 6
				r = pair
			} else {
				r = utf8.RuneError
			}
		} else {
			r = utf8.RuneError
		}
	}
	t.scratch = utf8.AppendRune(t.scratch, r)
	return nil
}

func hex4(in []byte, at int) (rune, bool) {
	if at+4 > len(in) {
		return 0, false
	}
	var r rune
	for _, c := range in[at : at+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
