package consent

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkParseFHIR parses a HAPI export padded to growing sizes with
// extra categories (accepted) and with extra nested provisions (refused
// after decoding): the time per byte should stay flat, the parser's cost
// being linear in its input.
//
//	go test -run '^$' -bench ParseFHIR -benchtime 20x ./consent
func BenchmarkParseFHIR(b *testing.B) {
	grant := string(readFile(b, "fhir/exports/hapi-grant.json"))
	for _, pad := range []struct {
		name, at, item string
	}{
		{"categories", `"category": [`, `{"coding": [{"system": "urn:oid:1.2.3", "code": "x"}], "text": "Research"},`},
		{"provisions", `"provision": [`, `{"type": "deny", "purpose": [{"system": "urn:trialog:purpose", "code": "a"}]},`},
	} {
		for _, n := range []int{100, 1000, 10000} {
			in := []byte(strings.Replace(grant, pad.at, pad.at+strings.Repeat(pad.item, n), 1))
			b.Run(fmt.Sprintf("%s/%dKB", pad.name, len(in)>>10), func(b *testing.B) {
				b.SetBytes(int64(len(in)))
				for b.Loop() {
					ParseFHIR(in)
				}
			})
		}
	}
}
