// Package strictjson decodes untrusted JSON the way a notary must: one
// reading only.
//
// encoding/json is lenient in ways that let two parsers disagree about the
// same signed bytes: it matches object keys case-insensitively, lets a later
// duplicate key silently win, ignores unknown fields and accepts trailing data.
// Unmarshal rejects all four, so a statement means exactly what its bytes say
// to every verifier.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// Unmarshal decodes data into v, which must be a pointer to a struct, rejecting
// duplicate keys, keys that match a field only case-insensitively, unknown
// fields and anything after the first JSON value. Errors name the offending
// field by its JSON path.
func Unmarshal(data []byte, v any) error {
	// One pass over the tokens, guided by v's type, checks keys; then
	// encoding/json decodes what is now known to have one reading.
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

// CheckDuplicates reports an error if any JSON object in data has the same key
// twice, or if data is not a single well-formed JSON value.
func CheckDuplicates(data []byte) error { return check(data, nil) }

func check(data []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := walk(dec, "", t); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// walk reads one JSON value. With a Go type t it also checks that every
// object key is exactly the JSON name of one of t's fields.
func walk(dec *json.Decoder, path string, t reflect.Type) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := dec.Token()
	if err != nil {
		return describe(err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		var fields map[string]reflect.Type
		var elem reflect.Type
		if t != nil {
			switch t.Kind() {
			case reflect.Struct:
				fields = jsonFields(t)
			case reflect.Map:
				elem = t.Elem()
			}
		}
		seen := make(map[string]bool)
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return describe(err)
			}
			key, _ := kt.(string)
			if seen[key] {
				return fmt.Errorf("duplicate field %q", join(path, key))
			}
			seen[key] = true
			next := elem
			if fields != nil {
				ft, ok := fields[key]
				if !ok {
					return fmt.Errorf("unknown field %q", join(path, key))
				}
				next = ft
			}
			if err := walk(dec, join(path, key), next); err != nil {
				return err
			}
		}
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if err := walk(dec, fmt.Sprintf("%s[%d]", path, i), elem); err != nil {
				return err
			}
		}
	}
	if _, err := dec.Token(); err != nil { // closing delimiter
		return describe(err)
	}
	return nil
}

func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := make(map[string]reflect.Type)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("json"); ok {
			n, _, _ := strings.Cut(tag, ",")
			if n == "-" {
				continue
			}
			if n != "" {
				name = n
			}
		}
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			if _, tagged := f.Tag.Lookup("json"); !tagged {
				for k, v := range jsonFields(f.Type) {
					fields[k] = v
				}
				continue
			}
		}
		fields[name] = f.Type
	}
	return fields
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
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
