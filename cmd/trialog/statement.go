package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ", ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// digestFields says which statement field holds the document a file is,
// per statement type (API.md): record.digest's digest, the document of
// protocols, analysis plans, consent forms, results and publications, a
// dataset's manifest, a registration's registry snapshot.
var digestFields = map[string]string{
	"record.digest":      "digest",
	"trial.protocol":     "document",
	"trial.sap":          "document",
	"trial.consent-form": "document",
	"trial.results":      "document",
	"trial.publication":  "document",
	"trial.dataset":      "manifest",
	"trial.registration": "registry_snapshot",
}

// statementTemplate is the statement every file gets, before its digest.
type statementTemplate map[string]any

// buildTemplate reads --json, then sets type, each --set and issued_at
// (now, unless given).
func buildTemplate(typ, jsonFile string, sets []string, now time.Time) (statementTemplate, error) {
	st := statementTemplate{}
	if jsonFile != "" {
		b, err := os.ReadFile(jsonFile)
		if err != nil {
			return nil, fmt.Errorf("reading the statement: %w", err)
		}
		v, err := decodeJSON(b)
		obj, ok := v.(map[string]any)
		if err != nil || !ok {
			return nil, fmt.Errorf("%s does not hold one JSON object", jsonFile)
		}
		st = obj
	}
	if t, ok := st["type"]; ok && t != typ {
		return nil, usageErrorf("the statement in %s has type %v, not --type %s", jsonFile, t, typ)
	}
	st["type"] = typ
	for _, kv := range sets {
		if err := st.set(kv); err != nil {
			return nil, err
		}
	}
	if _, ok := st["issued_at"]; !ok {
		st["issued_at"] = now.UTC().Format(time.RFC3339)
	}
	return st, nil
}

func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("data after the JSON value")
	}
	return v, nil
}

// set applies one --set: "k=v" sets a string, "k:=JSON" any JSON value;
// dotted keys reach into objects, making them as needed.
func (st statementTemplate) set(kv string) error {
	var key string
	var val any
	if i := strings.Index(kv, "="); i < 0 {
		return usageErrorf("--set %q is not key=value or key:=JSON", kv)
	} else if i > 0 && kv[i-1] == ':' {
		key = kv[:i-1]
		v, err := decodeJSON([]byte(kv[i+1:]))
		if err != nil {
			return usageErrorf("--set %s:= needs a JSON value (strings in quotes)", key)
		}
		val = v
	} else {
		key, val = kv[:i], kv[i+1:]
	}
	if key == "type" {
		return usageErrorf("set the type with --type, not --set")
	}
	return st.put(key, val)
}

// put sets a dotted key.
func (st statementTemplate) put(key string, val any) error {
	parts := strings.Split(key, ".")
	obj := map[string]any(st)
	for _, p := range parts[:len(parts)-1] {
		if p == "" {
			return usageErrorf("the key %q has an empty part", key)
		}
		next, ok := obj[p]
		if !ok {
			m := map[string]any{}
			obj[p] = m
			obj = m
			continue
		}
		m, ok := next.(map[string]any)
		if !ok {
			return usageErrorf("%s is not an object, so %s cannot be set", p, key)
		}
		obj = m
	}
	last := parts[len(parts)-1]
	if last == "" {
		return usageErrorf("the key %q has an empty part", key)
	}
	obj[last] = val
	return nil
}

// withDigest returns the statement's bytes with field.sha256 set to the
// file's digest (hex).
func (st statementTemplate) withDigest(field, sum string) ([]byte, error) {
	if field == "" {
		return json.Marshal(st)
	}
	// A deep copy: every file gets its own statement.
	var cp statementTemplate
	b, _ := json.Marshal(st)
	v, _ := decodeJSON(b)
	cp = statementTemplate(v.(map[string]any))
	if err := cp.put(field+".sha256", sum); err != nil {
		return nil, err
	}
	return json.Marshal(cp)
}

// checkDigestField refuses a salted digest: the file's own hash would be
// the wrong one.
func (st statementTemplate) checkDigestField(field string) error {
	if obj, ok := st[field].(map[string]any); ok {
		if s, ok := obj["salted"].(bool); ok && s {
			return usageErrorf("%s.salted is set, but submit notarizes the file's own SHA-256; hash salt and document yourself and use --json", field)
		}
		if _, ok := obj["sha256"]; ok {
			return usageErrorf("%s.sha256 is set, but --file sets it from the file", field)
		}
	} else if _, ok := st[field]; ok {
		return usageErrorf("%s is set, but --file sets it from the file", field)
	}
	return nil
}
