package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// reference reads data with encoding/json's tokenizer and reports what
// this package should decide: the nesting depth reached and whether some
// object holds two keys that fold to the same name.
func reference(data []byte) (depth int, dupKey, nonchar bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		obj   bool
		keys  map[string]bool
		isKey bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) || err != nil {
			return depth, dupKey, nonchar
		}
		if s, ok := tok.(string); ok {
			for _, r := range s {
				if (0xFDD0 <= r && r <= 0xFDEF) || r&0xFFFE == 0xFFFE {
					nonchar = true
				}
			}
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.obj {
			if s, ok := tok.(string); ok && top.isKey {
				f := fold(s)
				if top.keys[f] {
					dupKey = true
				}
				top.keys[f] = true
				top.isKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if top != nil && top.obj {
				top.isKey = true
			}
			stack = append(stack, &frame{obj: tok == json.Delim('{'), keys: map[string]bool{}, isKey: true})
			depth = max(depth, len(stack))
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) > 0 && stack[len(stack)-1].obj {
				stack[len(stack)-1].isKey = true
			}
			continue
		}
		if top != nil && top.obj {
			top.isKey = true
		}
	}
}

// surrogateEscape matches what may be a \u escape of a surrogate (or the
// text "\\ud800", which only makes the check below skip a case).
var surrogateEscape = regexp.MustCompile(`\\u[dD][89a-fA-F]`)

// FuzzValid checks that Valid agrees with encoding/json: whatever Valid
// accepts encoding/json accepts and reads within the limits, and whatever
// encoding/json accepts that is valid UTF-8, no deeper than MaxDepth,
// without lone surrogates or noncharacters and without duplicate or
// case-variant keys,
// Valid accepts.
func FuzzValid(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":[true,false,null,"x"]}`, `{"a":1,"A":2}`, `{"a":1,"a":2}`, `"\ud83d\ude00"`, `"\ud800"`,
		`[[[[[[]]]]]]`, `-0.5e+10`, `{"a":{"a":{"a":{}}}}`, "\"\xff\"", `{} x`, `{"\u212a":1,"k":2}`,
		strings.Repeat("[", 65) + strings.Repeat("]", 65), `{"k\u0061":1,"ka":2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := Valid(data)
		std := json.Valid(data)
		if err == nil {
			if !std {
				t.Fatalf("Valid accepted what encoding/json refuses: %q", data)
			}
			if !utf8.Valid(data) {
				t.Fatalf("Valid accepted invalid UTF-8: %q", data)
			}
			depth, dup, nonchar := reference(data)
			if depth > MaxDepth || dup || nonchar {
				t.Fatalf("Valid accepted depth %d, duplicate keys %v, noncharacters %v: %q", depth, dup, nonchar, data)
			}
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.UseNumber() // 1e700 is JSON, not a float64
			var v any
			if uerr := dec.Decode(&v); uerr != nil {
				t.Fatalf("Valid accepted what encoding/json refuses (%v): %q", uerr, data)
			}
			var std, again any
			serr, uerr := json.Unmarshal(data, &std), Unmarshal(data, &again)
			if (serr == nil) != (uerr == nil) || !reflect.DeepEqual(std, again) {
				t.Fatalf("Unmarshal (%v) differs from encoding/json (%v): %q", uerr, serr, data)
			}
			return
		}
		if !std || !utf8.Valid(data) || surrogateEscape.Match(data) {
			return
		}
		if depth, dup, nonchar := reference(data); depth <= MaxDepth && !dup && !nonchar {
			t.Fatalf("Valid refused (%v) what it should accept: %q", err, data)
		}
	})
}
