package receipt_test

import (
	"crypto/ed25519"
	"fmt"
	"testing"

	"github.com/trialog/trialog/receipt"
	"github.com/trialog/trialog/receipt/receipttest"
)

// BenchmarkVerifyReceipts measures DESIGN.md's P4: receipts verified per
// second on one core, with every check — parsing the file, the checkpoint
// signature (once per distinct checkpoint), the inclusion proof, the leaf
// and the statement signature. 16,384 receipts of 8 signers are proven
// against 4 checkpoints, as a folder of receipts from a few sessions is.
// One op is one receipt: receipts/s = 1e9 / (ns/op).
func BenchmarkVerifyReceipts(b *testing.B) {
	const n, checkpoints, signers = 1 << 14, 4, 8
	l, err := receipttest.New("bench.trialog.example/log", receipttest.Seeded(1))
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]ed25519.PrivateKey, signers)
	for i := range keys {
		keys[i] = receipttest.Key(uint64(100 + i))
	}
	for i := range n {
		st := receipttest.DigestStatement(fmt.Sprintf("%064x", i))
		l.Append(receipttest.Leaf(st, fmt.Sprintf("2026-11-23T14:%02d:%02d.%06dZ", i/3600%60, i/60%60, i), keys[i%signers]))
	}
	files := make([][]byte, n)
	per := n / checkpoints
	for i := range n {
		size := int64((i/per + 1) * per)
		r := l.Receipt(int64(i), size, []receipt.Signer{receipttest.Signer(keys[i%signers], fmt.Sprintf("%064x", i%signers))})
		files[i] = r.Marshal()
	}
	v, err := receipt.NewVerifier(l.VKey)
	if err != nil {
		b.Fatal(err)
	}
	const batch = 1024
	rs := make([]*receipt.Receipt, 0, batch)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		rs = rs[:0]
		for ; i < b.N && len(rs) < batch; i++ {
			r, err := receipt.Parse(files[i%n])
			if err != nil {
				b.Fatal(err)
			}
			rs = append(rs, r)
		}
		_, errs := v.VerifyAll(rs)
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "receipts/s")
}

// BenchmarkVerifyReceiptAlone is one receipt at a time (no batching), for
// comparison.
func BenchmarkVerifyReceiptAlone(b *testing.B) {
	s := newSample(b)
	file := s.single().Marshal()
	v := verifier(b, s.log.VKey)
	b.ResetTimer()
	for range b.N {
		r, err := receipt.Parse(file)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}
