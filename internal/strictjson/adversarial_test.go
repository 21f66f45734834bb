package strictjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// nested returns depth arrays nested in each other: [[[…]]].
func nested(depth int) []byte {
	return []byte(strings.Repeat("[", depth) + strings.Repeat("]", depth))
}

// nestedObjects returns depth objects nested under key k, innermost {}.
func nestedObjects(depth int, k string) []byte {
	var b bytes.Buffer
	for i := 0; i < depth-1; i++ {
		fmt.Fprintf(&b, `{%q:`, k)
	}
	b.WriteString("{}")
	b.WriteString(strings.Repeat("}", depth-1))
	return b.Bytes()
}

// atDepth puts inner at nesting depth d (d objects around it).
func atDepth(d int, inner string) []byte {
	return []byte(strings.Repeat(`{"x":`, d) + inner + strings.Repeat("}", d))
}

func TestValidAdversarial(t *testing.T) {
	wide := make([]string, 10000)
	for i := range wide {
		wide[i] = fmt.Sprintf(`"k%d":%d`, i, i)
	}
	manyKeys := "{" + strings.Join(wide, ",") + "}"
	for _, tc := range []struct {
		name    string
		in      []byte
		wantErr string // "" for success
	}{
		{"depth 64 arrays", nested(64), ""},
		{"depth 65 arrays", nested(65), "nesting deeper than 64"},
		{"depth 64 objects", nestedObjects(64, "a"), ""},
		{"depth 65 objects", nestedObjects(65, "a"), "nesting deeper than 64"},
		{"depth 65 mixed", []byte(strings.Repeat(`[{"a":`, 33) + "1" + strings.Repeat("}]", 33)), "nesting deeper than 64"},
		{"unclosed 100k", []byte(strings.Repeat("[", 100000)), "nesting deeper than 64"},
		{"wide array", []byte("[" + strings.Repeat("1,", 100000) + "1]"), ""},
		{"many keys", []byte(manyKeys), ""},
		{"many keys, last repeats the first", []byte(manyKeys[:len(manyKeys)-1] + `,"k0":1}`), `duplicate field "k0"`},
		{"many keys, last a case variant", []byte(manyKeys[:len(manyKeys)-1] + `,"K9999":1}`), `duplicate field "K9999"`},
		{"duplicate top", []byte(`{"role":"regulator","role":"admin"}`), `duplicate field "role"`},
		{"case variant top", []byte(`{"role":"regulator","ROLE":"admin"}`), `duplicate field "ROLE": the same key as "role" but for letter case`},
		{"case variant, Kelvin sign", []byte(`{"k":1,"\u212a":2}`), "duplicate field"},
		{"duplicate by escape", []byte(`{"a":1,"\u0061":2}`), `duplicate field "a"`},
		{"same key in sibling objects", []byte(`[{"a":1},{"a":2}]`), ""},
		{"same key at two levels", []byte(`{"a":{"a":1}}`), ""},
		{"lone high surrogate", []byte(`"\ud800"`), "lone surrogate"},
		{"lone low surrogate", []byte(`"\udc00"`), "lone surrogate"},
		{"high then non-surrogate", []byte(`"\ud800\u0041"`), "lone surrogate"},
		{"high at end", []byte(`"\uD83D"`), "lone surrogate"},
		{"surrogate in key", []byte(`{"\udfff":1}`), "lone surrogate"},
		{"surrogate pair", []byte(`"\ud83d\ude00"`), ""},
		{"invalid UTF-8", []byte("\"\xff\""), "not valid UTF-8"},
		{"UTF-8 encoded surrogate", []byte("\"\xed\xa0\x80\""), "not valid UTF-8"},
		{"overlong UTF-8", []byte("\"\xc0\xaf\""), "not valid UTF-8"},
		{"truncated UTF-8", []byte("\"\xe6\x97\""), "not valid UTF-8"},
		{"valid UTF-8", []byte(`"Zoë 医院 😀"`), ""},
		{"noncharacter escaped", []byte(`"\uffff"`), "noncharacter U+FFFF"},
		{"noncharacter FDD0 escaped", []byte(`"\ufdd0"`), "noncharacter U+FDD0"},
		{"noncharacter by surrogate pair", []byte(`"\ud83f\udffe"`), "noncharacter U+1FFFE"},
		{"noncharacter raw", []byte("\"\xef\xbf\xbe\""), "noncharacter U+FFFE"},
		{"noncharacter in a key", []byte(`{"\uFDEF":1}`), "noncharacter U+FDEF"},
		{"U+FFFD is a character", []byte(`"\ufffd\uFDCF\uFDF0"`), ""},
		{"control character", []byte("\"a\x01\""), "control character"},
		{"trailing value", []byte(`{} {}`), "unexpected data after"},
		{"trailing garbage", []byte(`{"a":1}x`), "unexpected data after"},
		{"trailing white space", []byte("{\"a\":1} \n\t\r"), ""},
		{"empty", []byte(``), "unexpected end"},
		{"BOM", []byte("\xef\xbb\xbf{}"), "invalid character"},
		{"bad escape", []byte(`"\x"`), "invalid escape"},
		{"leading zero", []byte(`01`), "unexpected data after"},
		{"bare minus", []byte(`-`), "invalid number"},
		{"dot without digits", []byte(`1.`), "invalid number"},
		{"exponent without digits", []byte(`1e+`), "invalid number"},
		{"number", []byte(`-0.5e+10`), ""},
		{"trailing comma", []byte(`[1,]`), "invalid character"},
		{"missing colon", []byte(`{"a" 1}`), "expected ':'"},
		{"literal", []byte(`[true,false,null]`), ""},
		{"bad literal", []byte(`nul`), "invalid literal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Valid(tc.in)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Valid = %v, want success", err)
				}
				if !json.Valid(tc.in) {
					t.Fatalf("accepted what encoding/json refuses")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Valid = %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestKeysAtEveryLevel puts a duplicate, a case variant and a duplicate
// spelt with an escape at each nesting level from 1 to 64: each is refused
// naming its path, and the same object without the offending key is read.
func TestKeysAtEveryLevel(t *testing.T) {
	for d := 0; d < MaxDepth; d++ {
		path := strings.TrimPrefix(strings.Repeat(".x", d), ".")
		for _, tc := range []struct{ obj, key string }{
			{`{"role":1,"role":2}`, "role"},
			{`{"role":1,"ROLE":2}`, "ROLE"},
			{`{"role":1,"r\u006fle":2}`, "role"},
		} {
			err := Valid(atDepth(d, tc.obj))
			want := fmt.Sprintf("duplicate field %q", strings.TrimPrefix(path+"."+tc.key, "."))
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("depth %d, %s: %v, want %s", d+1, tc.obj, err, want)
			}
		}
		if err := Valid(atDepth(d, `{"role":1,"rolE2":2}`)); err != nil {
			t.Fatalf("depth %d: distinct keys refused: %v", d+1, err)
		}
	}
}

type principal struct {
	Name       string   `json:"name"`
	Role       string   `json:"role"`
	PublicKeys []string `json:"public_keys"`
}

type tree struct {
	Name     string            `json:"name"`
	Children []tree            `json:"children,omitempty"`
	Labels   map[string]inner  `json:"labels,omitempty"`
	Raw      json.RawMessage   `json:"raw,omitempty"`
	Any      any               `json:"any,omitempty"`
	Embedded                   // promoted fields
	Ptr      *inner            `json:"ptr,omitempty"`
	Skip     string            `json:"-"`
	Extra    map[string]string `json:"extra,omitempty"`
}

type Embedded struct {
	Note string `json:"note,omitempty"`
}

func TestUnmarshalSchema(t *testing.T) {
	for _, tc := range []struct{ name, in, wantErr string }{
		{"duplicate role", `{"role":"regulator","role":"admin"}`, `duplicate field "role"`},
		{"case-variant role", `{"ROLE":"admin"}`, `unknown field "ROLE"`},
		{"case-variant after exact", `{"role":"regulator","Role":"admin"}`, `unknown field "Role"`},
		{"trailing", `{"role":"admin"}x`, "unexpected data after"},
		{"unknown", `{"role":"admin","admin":true}`, `unknown field "admin"`},
		{"ok", `{"name":"Zoë 医院","role":"site","public_keys":["a"]}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p principal
			err := Unmarshal([]byte(tc.in), &p)
			if tc.wantErr == "" {
				if err != nil || p.Name != "Zoë 医院" {
					t.Fatalf("Unmarshal = %v, %+v", err, p)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Unmarshal = %v, want error containing %q", err, tc.wantErr)
			}
			if p.Role != "" {
				t.Fatalf("refused input still filled role = %q", p.Role)
			}
		})
	}

	// Duplicate and case-variant keys at every level of a recursive type,
	// through slices, maps, pointers and promoted fields.
	for _, tc := range []struct{ in, wantErr string }{
		{`{"name":"a","children":[{"name":"b","children":[{"name":"c","name":"d"}]}]}`, `duplicate field "children[0].children[0].name"`},
		{`{"name":"a","children":[{"name":"b","children":[{"NAME":"c"}]}]}`, `unknown field "children[0].children[0].NAME"`},
		{`{"labels":{"x":{"sha256":"1"},"X":{"sha256":"2"}}}`, `duplicate field "labels.X": the same key as "x"`},
		{`{"labels":{"x":{"sha256":"1","Sha256":"2"}}}`, `unknown field "labels.x.Sha256"`},
		{`{"labels":{"x":{"SHA256":"1"}}}`, `unknown field "labels.x.SHA256"`},
		{`{"ptr":{"salted":true,"salted":false}}`, `duplicate field "ptr.salted"`},
		{`{"ptr":{"Salted":true}}`, `unknown field "ptr.Salted"`},
		{`{"note":"a","Note":"b"}`, `unknown field "Note"`},
		{`{"Note":"b"}`, `unknown field "Note"`},
		{`{"Skip":"b"}`, `unknown field "Skip"`},
		{`{"-":"b"}`, `unknown field "-"`},
		{`{"raw":{"a":1,"a":2}}`, `duplicate field "raw.a"`},
		{`{"any":[{"a":1,"A":2}]}`, `duplicate field "any[0].A"`},
		{`{"extra":{"k":"1","k":"2"}}`, `duplicate field "extra.k"`},
		{`{"name":"a","children":[{"name":"\ud800"}]}`, `lone surrogate`},
		{`{"name":1}`, `field "name": expected string`},
	} {
		var v tree
		err := Unmarshal([]byte(tc.in), &v)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("Unmarshal(%s) = %v, want error containing %q", tc.in, err, tc.wantErr)
		}
	}
	var v tree
	in := `{"name":"a","children":[{"name":"b","labels":{"x":{"sha256":"1"},"y":{"sha256":"2"}}}],"raw":{"A":1},"any":{"a":[1]},"note":"n","ptr":{"sha256":"p"},"extra":{"k":"v"}}`
	if err := Unmarshal([]byte(in), &v); err != nil {
		t.Fatalf("Unmarshal(%s) = %v", in, err)
	}
	var want tree
	json.Unmarshal([]byte(in), &want)
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("decoded %+v, encoding/json decodes %+v", v, want)
	}
}

// totalAlloc returns the bytes allocated by f, averaged over runs.
func totalAlloc(runs int, f func()) uint64 {
	f() // warm up
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < runs; i++ {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(runs)
}

// worstBodies are the shapes that made the earlier checker quadratic, and
// others that stress a key set or the stack, at about n bytes.
func worstBodies(n int) map[string][]byte {
	deep := func(unit string) []byte { // unit nested 64 times, repeated to n bytes
		one := atDepth(62, unit) // 64 levels with the outer array
		return []byte("[" + strings.TrimSuffix(strings.Repeat(string(one)+",", max(1, n/(len(one)+1))), ",") + "]")
	}
	keys := make([]string, 0, n/12)
	for i := 0; len(keys)*12 < n; i++ {
		keys = append(keys, fmt.Sprintf(`"k%07d":0`, i))
	}
	return map[string][]byte{
		"nested [":       []byte(strings.Repeat("[", n)),
		"nested {":       []byte(strings.Repeat(`{"a":`, n/5)),
		"deep objects":   deep(`{"a":1}`),
		"many keys":      []byte("{" + strings.Join(keys, ",") + "}"),
		"deep many keys": deep("{" + strings.Join(keys[:min(len(keys), 64)], ",") + "}"),
		"wide array":     []byte("[" + strings.Repeat("[],", n/3) + "[]]"),
	}
}

// TestLinearAllocation checks that the bytes allocated to read each worst
// body grow linearly: at 8n at most 16 times what they are at n (slices
// that double leave up to a factor 2 of slack; quadratic growth would be
// 64 times).
func TestLinearAllocation(t *testing.T) {
	const n = 16 << 10
	small, large := worstBodies(n), worstBodies(8*n)
	for name := range small {
		var v any
		if strings.HasPrefix(name, "nested") {
			if Valid(small[name]) == nil {
				t.Fatalf("%s: accepted", name)
			}
		} else if err := Valid(large[name]); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		a1 := totalAlloc(5, func() { Unmarshal(small[name], &v) })
		a8 := totalAlloc(5, func() { Unmarshal(large[name], &v) })
		t.Logf("%-15s %7d B at %d KiB, %8d B at %d KiB", name, a1, len(small[name])>>10, a8, len(large[name])>>10)
		if a8 > 16*a1+4096 {
			t.Errorf("%s: %d bytes allocated at 8n, %d at n: more than linear", name, a8, a1)
		}
	}
	// The nested-[ body is refused at level 65, whatever its length: what it
	// costs does not depend on n at all.
	body := []byte(strings.Repeat("[", 8*n))
	if a := totalAlloc(5, func() { Valid(body) }); a > 1024 {
		t.Errorf("refusing %d KiB of '[' allocated %d bytes", len(body)>>10, a)
	}
}

// BenchmarkWorstBodies reads each worst body at 1 KiB to 1 MiB: ms/KiB
// stays flat as the size grows (make bench prints it).
func BenchmarkWorstBodies(b *testing.B) {
	for _, n := range []int{1 << 10, 16 << 10, 256 << 10, 1 << 20} {
		for name, body := range worstBodies(n) {
			b.Run(fmt.Sprintf("%s/%dKiB", strings.ReplaceAll(name, " ", "_"), n>>10), func(b *testing.B) {
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				var v any
				for b.Loop() {
					Unmarshal(body, &v)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e6/float64(b.N)/(float64(len(body))/1024), "ms/KiB")
			})
		}
	}
}
