// Package strictjson decodes untrusted JSON the way a notary must: one
// reading only, at a cost linear in the input's size.
//
// Every document is first read by one hand-written scanner that enforces
// I-JSON (RFC 7493) and more:
//
//   - valid UTF-8 throughout, no escaped lone surrogate ("\ud800") and no
//     noncharacter (U+FFFF, U+FDD0…), raw or escaped;
//   - no object with the same key twice, nor two keys that differ only in
//     case (Go's encoding/json matches keys case-insensitively, so "ROLE"
//     would fill a field named role);
//   - nothing after the first JSON value but white space;
//   - at most MaxDepth levels of nesting, refused when the level is opened,
//     before anything is allocated for it;
//   - with a Go target type, every object key is exactly the JSON name of a
//     field of the struct it fills: case variants and unknown fields are
//     refused, naming the field by its JSON path.
//
// Only then does encoding/json decode the bytes, which now have one reading.
// The scanner keeps a fixed-size stack, builds no per-level strings (a path is
// only spelled out in an error) and looks at every byte a bounded number of
// times, so time and memory are linear in the size of the input.
package strictjson

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of arrays and objects accepted: a document
// of 64 nested arrays is read, one of 65 is refused.
const MaxDepth = 64

// Unmarshal decodes data into v, which should be a pointer, after checking
// data as described in the package comment. Errors name the offending field
// by its JSON path.
func Unmarshal(data []byte, v any) error {
	if err := check(data, reflect.TypeOf(v)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return describe(err)
	}
	return nil
}

// Valid reports whether data is one I-JSON value within MaxDepth, as
// described in the package comment, without a target type: keys are checked
// for duplicates and case variants but not against any schema.
func Valid(data []byte) error { return check(data, nil) }

// CheckDuplicates is Valid, under its older name.
func CheckDuplicates(data []byte) error { return Valid(data) }

func check(data []byte, t reflect.Type) error {
	s := scanner{data: data}
	s.skipSpace()
	if err := s.value(0, s.shape(t)); err != nil {
		return err
	}
	s.skipSpace()
	if s.pos != len(s.data) {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// shape is what the scanner knows of the Go type a JSON value fills.
type shape struct {
	fields map[string]*shape // a struct: its fields by exact JSON name
	elem   *shape            // a map, slice or array: its elements
	object bool              // fields is the complete list of allowed keys
}

// A nil *shape stands for values checked against no schema: interfaces,
// json.RawMessage and other types that read their own JSON.

type pathElem struct {
	key   string
	index int
	isKey bool
}

type scanner struct {
	data   []byte
	pos    int
	path   [MaxDepth]pathElem // fixed: no allocation per level
	shapes map[reflect.Type]*shape
	buf    []byte // scratch for decoding escaped keys
}

// shape returns the shape of t, computed once per type per document.
func (s *scanner) shape(t reflect.Type) *shape {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || opaque(t) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map, reflect.Slice, reflect.Array:
	default:
		return nil
	}
	if sh, ok := s.shapes[t]; ok {
		return sh
	}
	if s.shapes == nil {
		s.shapes = make(map[reflect.Type]*shape)
	}
	sh := &shape{}
	s.shapes[t] = sh // before recursing: types may refer to themselves
	switch t.Kind() {
	case reflect.Struct:
		sh.object = true
		sh.fields = make(map[string]*shape)
		s.addFields(sh.fields, t)
	case reflect.Map:
		sh.elem = s.shape(t.Elem())
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && t.Kind() == reflect.Slice {
			return nil // []byte is a base64 string
		}
		sh.elem = s.shape(t.Elem())
	}
	return sh
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// opaque types read their JSON themselves (json.RawMessage, time.Time…) or
// take anything (interfaces): only I-JSON applies to them.
func opaque(t reflect.Type) bool {
	if t.Kind() == reflect.Interface {
		return true
	}
	pt := reflect.PointerTo(t)
	return t.Implements(jsonUnmarshaler) || pt.Implements(jsonUnmarshaler) ||
		t.Implements(textUnmarshaler) || pt.Implements(textUnmarshaler)
}

// addFields lists t's fields by JSON name, as encoding/json names them.
func (s *scanner) addFields(fields map[string]*shape, t reflect.Type) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, tagged := f.Tag.Lookup("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" && !strings.Contains(tag, ",") {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				s.addFields(fields, ft) // promoted fields
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if !tagged || name == "" {
			name = f.Name
		}
		fields[name] = s.shape(f.Type)
	}
}

func (s *scanner) errorf(format string, args ...any) error {
	return fmt.Errorf("malformed JSON at byte %d: %s", s.pos, fmt.Sprintf(format, args...))
}

// pathAt spells out the JSON path of the value at depth (errors only).
func (s *scanner) pathAt(depth int) string {
	var b strings.Builder
	for i := 0; i < depth; i++ {
		p := s.path[i]
		if p.isKey {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(p.key)
		} else {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(p.index))
			b.WriteByte(']')
		}
	}
	return b.String()
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// value reads one JSON value at nesting depth (0 at the top) whose Go
// target has shape sh.
func (s *scanner) value(depth int, sh *shape) error {
	if s.pos >= len(s.data) {
		return errors.New("malformed JSON: unexpected end of input")
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		if depth >= MaxDepth {
			return s.errorf("nesting deeper than %d levels", MaxDepth)
		}
		return s.object(depth, sh)
	case c == '[':
		if depth >= MaxDepth {
			return s.errorf("nesting deeper than %d levels", MaxDepth)
		}
		return s.array(depth, sh)
	case c == '"':
		_, _, err := s.str()
		return err
	case c == '-' || ('0' <= c && c <= '9'):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	default:
		return s.errorf("invalid character %q looking for a value", rune(c))
	}
}

func (s *scanner) literal(lit string) error {
	if !bytes.HasPrefix(s.data[s.pos:], []byte(lit)) {
		return s.errorf("invalid literal, expected %s", lit)
	}
	s.pos += len(lit)
	return nil
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() error {
	d := s.data
	if d[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos < len(d) && d[s.pos] == '0':
		s.pos++
	case s.pos < len(d) && '1' <= d[s.pos] && d[s.pos] <= '9':
		s.digits()
	default:
		return s.errorf("invalid number")
	}
	if s.pos < len(d) && d[s.pos] == '.' {
		s.pos++
		if s.digits() == 0 {
			return s.errorf("invalid number: no digit after the decimal point")
		}
	}
	if s.pos < len(d) && (d[s.pos] == 'e' || d[s.pos] == 'E') {
		s.pos++
		if s.pos < len(d) && (d[s.pos] == '+' || d[s.pos] == '-') {
			s.pos++
		}
		if s.digits() == 0 {
			return s.errorf("invalid number: no digit in the exponent")
		}
	}
	return nil
}

func (s *scanner) digits() int {
	start := s.pos
	for s.pos < len(s.data) && '0' <= s.data[s.pos] && s.data[s.pos] <= '9' {
		s.pos++
	}
	return s.pos - start
}

// str reads a string starting at its opening quote and returns its content
// undecoded, and whether it holds an escape.
func (s *scanner) str() (raw []byte, escaped bool, err error) {
	d := s.data
	s.pos++ // opening quote
	start := s.pos
	for s.pos < len(d) {
		c := d[s.pos]
		switch {
		case c == '"':
			raw = d[start:s.pos]
			s.pos++
			return raw, escaped, nil
		case c == '\\':
			escaped = true
			if err := s.escape(); err != nil {
				return nil, false, err
			}
		case c < 0x20:
			return nil, false, s.errorf("control character %#02x in a string", c)
		case c < utf8.RuneSelf:
			s.pos++
		default:
			// SPEC: RFC 7493 §2.1 — I-JSON text is UTF-8 (no surrogates
			// encoded in it, no overlong forms).
			r, n := utf8.DecodeRune(d[s.pos:])
			if r == utf8.RuneError && n == 1 {
				return nil, false, s.errorf("string is not valid UTF-8")
			}
			if noncharacter(r) {
				return nil, false, s.errorf("noncharacter U+%04X in a string", r)
			}
			s.pos += n
		}
	}
	return nil, false, errors.New("malformed JSON: unexpected end of input in a string")
}

// escape reads one escape sequence at s.pos; a \u escape of a high
// surrogate must be followed at once by one of a low surrogate.
func (s *scanner) escape() error {
	d := s.data
	if s.pos+1 >= len(d) {
		return errors.New("malformed JSON: unexpected end of input in a string")
	}
	switch d[s.pos+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.pos += 2
		return nil
	case 'u':
	default:
		return s.errorf("invalid escape \\%c in a string", d[s.pos+1])
	}
	r, ok := hex4(d[s.pos+2:])
	if !ok {
		return s.errorf("invalid \\u escape in a string")
	}
	// SPEC: RFC 7493 §2.1 — no escape of a code point that is a surrogate
	// or noncharacter alone; a surrogate pair must be complete.
	switch {
	case 0xDC00 <= r && r <= 0xDFFF:
		return s.errorf("lone surrogate \\u%04x in a string", r)
	case 0xD800 <= r && r <= 0xDBFF:
		rest := d[s.pos+6:]
		if len(rest) < 6 || rest[0] != '\\' || rest[1] != 'u' {
			return s.errorf("lone surrogate \\u%04x in a string", r)
		}
		r2, ok := hex4(rest[2:])
		if !ok || r2 < 0xDC00 || r2 > 0xDFFF {
			return s.errorf("lone surrogate \\u%04x in a string", r)
		}
		if c := 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00); noncharacter(c) {
			return s.errorf("noncharacter U+%04X in a string", c)
		}
		s.pos += 12
		return nil
	case noncharacter(r):
		return s.errorf("noncharacter U+%04X in a string", r)
	}
	s.pos += 6
	return nil
}

// noncharacter reports whether r is one of Unicode's 66 noncharacters,
// which I-JSON excludes: U+FDD0 to U+FDEF and the last two code points of
// every plane.
func noncharacter(r rune) bool {
	return (0xFDD0 <= r && r <= 0xFDEF) || r&0xFFFE == 0xFFFE
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// keySet holds an object's keys, folded as encoding/json folds them, with
// the key as written: a few in a fixed array, more in a map made for this
// object alone.
type keySet struct {
	small [8]struct{ folded, key string }
	n     int
	m     map[string]string
}

// add records key and returns the earlier key it clashes with, if any.
func (k *keySet) add(key string) (earlier string, clash bool) {
	f := fold(key)
	if k.m == nil {
		for _, e := range k.small[:k.n] {
			if e.folded == f {
				return e.key, true
			}
		}
		if k.n < len(k.small) {
			k.small[k.n].folded, k.small[k.n].key = f, key
			k.n++
			return "", false
		}
		k.m = make(map[string]string, 2*len(k.small))
		for _, e := range k.small {
			k.m[e.folded] = e.key
		}
	}
	if e, ok := k.m[f]; ok {
		return e, true
	}
	k.m[f] = key
	return "", false
}

func (s *scanner) object(depth int, sh *shape) error {
	s.pos++ // {
	var keys keySet
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return nil
	}
	for {
		if s.pos >= len(s.data) {
			return errors.New("malformed JSON: unexpected end of input in an object")
		}
		if s.data[s.pos] != '"' {
			return s.errorf("expected a string key in an object")
		}
		raw, escaped, err := s.str()
		if err != nil {
			return err
		}
		key := string(raw)
		if escaped {
			key = s.unescape(raw)
		}
		s.path[depth] = pathElem{key: key, isKey: true}
		var next *shape
		if sh != nil {
			if sh.object {
				f, ok := sh.fields[key]
				if !ok {
					return fmt.Errorf("unknown field %q", s.pathAt(depth+1))
				}
				next = f
			} else {
				next = sh.elem
			}
		}
		// SPEC: RFC 7493 §2.3 — member names are unique, compared after
		// unescaping; and, as Go matches them case-insensitively, unique
		// in letter case too.
		if earlier, clash := keys.add(key); clash {
			if earlier == key {
				return fmt.Errorf("duplicate field %q", s.pathAt(depth+1))
			}
			return fmt.Errorf("duplicate field %q: the same key as %q but for letter case", s.pathAt(depth+1), earlier)
		}
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return s.errorf("expected ':' after an object key")
		}
		s.pos++
		s.skipSpace()
		if err := s.value(depth+1, next); err != nil {
			return err
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return errors.New("malformed JSON: unexpected end of input in an object")
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
			s.skipSpace()
		case '}':
			s.pos++
			return nil
		default:
			return s.errorf("expected ',' or '}' in an object")
		}
	}
}

func (s *scanner) array(depth int, sh *shape) error {
	s.pos++         // [
	var next *shape // a struct filled by an array: encoding/json reports the type error
	if sh != nil && !sh.object {
		next = sh.elem
	}
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		return nil
	}
	for i := 0; ; i++ {
		s.path[depth] = pathElem{index: i}
		if err := s.value(depth+1, next); err != nil {
			return err
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return errors.New("malformed JSON: unexpected end of input in an array")
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
			s.skipSpace()
		case ']':
			s.pos++
			return nil
		default:
			return s.errorf("expected ',' or ']' in an array")
		}
	}
}

// unescape decodes a string's content already checked by str.
func (s *scanner) unescape(raw []byte) string {
	b := s.buf[:0]
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			b = append(b, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, _ := hex4(raw[i+2:])
			if 0xD800 <= r && r <= 0xDBFF {
				r2, _ := hex4(raw[i+8:])
				r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
				i += 6
			}
			b = utf8.AppendRune(b, r)
			i += 6
			continue
		default: // " \ /
			b = append(b, raw[i+1])
		}
		i += 2
	}
	s.buf = b
	return string(b)
}

// fold maps a key to the same string as every key encoding/json would match
// with it (its foldName): ASCII letters to upper case, other runes to the
// smallest of their simple case folding orbit.
func fold(key string) string {
	ascii := true
	for i := 0; i < len(key); i++ {
		if c := key[i]; c >= utf8.RuneSelf || ('a' <= c && c <= 'z') {
			ascii = false
			break
		}
	}
	if ascii {
		return key
	}
	b := make([]byte, 0, len(key))
	for _, r := range key {
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			b = append(b, byte(r))
			continue
		}
		for {
			r2 := unicode.SimpleFold(r)
			if r2 <= r {
				r = r2
				break
			}
			r = r2
		}
		b = utf8.AppendRune(b, r)
	}
	return string(b)
}

// describe turns encoding/json errors into sentences that name the field.
func describe(err error) error {
	var ute *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &ute):
		field := ute.Field
		if field == "" {
			return fmt.Errorf("expected %s, got JSON %s", ute.Type, ute.Value)
		}
		return fmt.Errorf("field %q: expected %s, got JSON %s", field, ute.Type, ute.Value)
	case errors.As(err, &se):
		return fmt.Errorf("malformed JSON at byte %d: %v", se.Offset, err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("malformed JSON: unexpected end of input")
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return fmt.Errorf("unknown field %s", rest)
	}
	return errors.New(strings.TrimPrefix(msg, "json: "))
}
