//go:build js && wasm

// Command wasm is the verifier of trialog's pages, compiled to WebAssembly
// (GOOS=js GOARCH=wasm; see web/generate.go). It exposes web/verify to the
// page's script as globalThis.trialogVerifier, whose functions each take
// one JSON string and return one JSON string:
//
//	verifyLog(LogInput) → Result
//	verifyTrial(TrialInput) → TrialResult
//	verifyConsent(ConsentInput) → ConsentResult
//	verifyKeys(KeysInput) → KeysResult
//	fingerprint(logKey string) → string
//
// It then sets trialogVerifier.ready and waits forever, as a Go program
// serving callbacks must.
package main

import (
	"encoding/json"
	"syscall/js"

	"github.com/trialog/trialog/web/verify"
)

// export wraps a function of one JSON value as a JavaScript function of
// one JSON string.
func export[In, Out any](f func(In) Out) js.Func {
	return js.FuncOf(func(this js.Value, args []js.Value) any {
		var in In
		if len(args) != 1 || args[0].Type() != js.TypeString {
			return errJSON("expected one JSON string")
		}
		if err := json.Unmarshal([]byte(args[0].String()), &in); err != nil {
			return errJSON("the input is not the expected JSON: " + err.Error())
		}
		b, err := json.Marshal(f(in))
		if err != nil {
			return errJSON(err.Error())
		}
		return string(b)
	})
}

func errJSON(msg string) string {
	b, _ := json.Marshal(verify.Result{Failures: []verify.Failure{{Check: verify.CheckAnswer, Message: msg}}})
	return string(b)
}

func main() {
	o := js.Global().Get("Object").New()
	o.Set("verifyLog", export(verify.VerifyLog))
	o.Set("verifyTrial", export(verify.VerifyTrial))
	o.Set("verifyConsent", export(verify.VerifyConsent))
	o.Set("verifyKeys", export(verify.VerifyKeys))
	o.Set("fingerprint", js.FuncOf(func(this js.Value, args []js.Value) any {
		if len(args) != 1 || args[0].Type() != js.TypeString {
			return ""
		}
		return verify.KeyFingerprint(args[0].String())
	}))
	o.Set("ready", true)
	js.Global().Set("trialogVerifier", o)
	select {}
}
