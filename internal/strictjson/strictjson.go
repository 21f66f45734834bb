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
	if err := CheckDuplicates(data); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return describe(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("unexpected data after the JSON value")
	}
	var generic any
	if err := json.Unmarshal(data, &generic); err != nil {
		return describe(err)
	}
	return checkCase(reflect.TypeOf(v), generic, "")
}

// CheckDuplicates reports an error if any JSON object in data has the same key
// twice, or if data is not a single well-formed JSON value.
func CheckDuplicates(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := walk(dec, ""); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

func walk(dec *json.Decoder, path string) error {
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
			if err := walk(dec, join(path, key)); err != nil {
				return err
			}
		}
	case '[':
		for i := 0; dec.More(); i++ {
			if err := walk(dec, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	if _, err := dec.Token(); err != nil { // closing delimiter
		return describe(err)
	}
	return nil
}

// checkCase walks a generic decoding of the input beside the Go type it was
// decoded into and rejects keys that differ from the field's JSON name.
func checkCase(t reflect.Type, v any, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		fields := jsonFields(t)
		for key, val := range obj {
			ft, ok := fields[key]
			if !ok {
				return fmt.Errorf("unknown field %q", join(path, key))
			}
			if err := checkCase(ft, val, join(path, key)); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		arr, ok := v.([]any)
		if !ok {
			return nil
		}
		for i, e := range arr {
			if err := checkCase(t.Elem(), e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		for key, val := range obj {
			if err := checkCase(t.Elem(), val, join(path, key)); err != nil {
				return err
			}
		}
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
