package strictjson

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

type inner struct {
	SHA256 string `json:"sha256"`
	Salted bool   `json:"salted,omitempty"`
}

type outer struct {
	Type   string  `json:"type"`
	Digest inner   `json:"digest"`
	List   []inner `json:"list,omitempty"`
}

func TestUnmarshal(t *testing.T) {
	for _, tc := range []struct {
		name, in, wantErr string
	}{
		{"ok", `{"type":"a","digest":{"sha256":"x"}}`, ""},
		{"ok list", `{"type":"a","digest":{"sha256":"x"},"list":[{"sha256":"y","salted":true}]}`, ""},
		{"duplicate top", `{"type":"a","type":"b","digest":{"sha256":"x"}}`, `duplicate field "type"`},
		{"duplicate nested", `{"type":"a","digest":{"sha256":"x","sha256":"y"}}`, `duplicate field "digest.sha256"`},
		{"unknown", `{"type":"a","extra":1}`, `unknown field "extra"`},
		{"unknown nested", `{"type":"a","digest":{"md5":"x"}}`, `unknown field "digest.md5"`},
		{"case", `{"Type":"a"}`, `unknown field "Type"`},
		{"case nested in list", `{"type":"a","list":[{"SHA256":"y"}]}`, `unknown field "list[0].SHA256"`},
		{"trailing", `{"type":"a"} {}`, `unexpected data after the JSON value`},
		{"wrong type", `{"type":1}`, `field "type": expected string`},
		{"truncated", `{"type":"a"`, `malformed JSON`},
		{"not json", `hello`, `malformed JSON`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o outer
			err := Unmarshal([]byte(tc.in), &o)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Unmarshal(%s) = %v, want success", tc.in, err)
				}
				if o.Type != "a" {
					t.Fatalf("decoded type %q, want a", o.Type)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Unmarshal(%s) = %v, want error containing %q", tc.in, err, tc.wantErr)
			}
		})
	}
}

func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{`{"type":"a","digest":{"sha256":"x"}}`, `{"type":"a","type":"b"}`, `[1,2,{"a":{}}]`, `{"list":[{"sha256":"y"}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var o outer
		if err := Unmarshal(data, &o); err != nil {
			return
		}
		// Whatever was accepted has no duplicate keys and decodes again the same way.
		if err := CheckDuplicates(data); err != nil {
			t.Fatalf("accepted input with duplicates: %v", err)
		}
		var again outer
		if err := Unmarshal(data, &again); err != nil || again.Type != o.Type || again.Digest != o.Digest {
			t.Fatalf("second decoding differs: %v", err)
		}
		// encoding/json, which matches keys loosely, reads the same values:
		// the strict reading is the only reading.
		var std outer
		if err := json.Unmarshal(data, &std); err != nil || !reflect.DeepEqual(std, o) {
			t.Fatalf("encoding/json reads %+v (%v), strictjson %+v", std, err, o)
		}
	})
}
