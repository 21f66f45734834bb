package strictjson_test
import ("testing";"encoding/json";"crypto/ed25519";"crypto/rand";"time";"github.com/trialog/trialog/internal/strictjson";"github.com/trialog/trialog/personality/envelope";"github.com/trialog/trialog/internal/testserver")
type R struct{ Origin string `json:"origin"`; Index int64 `json:"leaf_index"`; Leaf string `json:"leaf"`; Proof []string `json:"inclusion_proof"`; CP string `json:"checkpoint"`; Signers []struct{PK string `json:"public_key"`; KE string `json:"key_entry"`} `json:"signers"`}
func mk() ([]byte, []byte) {
 _,priv,_:=ed25519.GenerateKey(rand.Reader)
 env:=envelope.Sign("application/vnd.trialog.statement+json", testserver.DigestStatement("x"), priv)
 leaf:=envelope.MarshalLeaf(envelope.Leaf{Envelope:env, ReceivedAt: time.Now().UTC().Format(time.RFC3339Nano)})
 var r R; r.Origin="example.org/trialog"; r.Index=123456; r.Leaf=string(leaf); for i:=0;i<20;i++{r.Proof=append(r.Proof,"gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=")}; r.CP="example.org/trialog\n1234567\ngSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=\n\n— example.org/trialog hI2DJwhI2DJwhI2DJwhI2DJwhI2DJwhI2DJwhI2DJwhI2DJwhI2DJwhI2DJwhI2DJwhI2DJwhI2DJwhI2DJw=\n"
 r.Signers=append(r.Signers, struct{PK string `json:"public_key"`; KE string `json:"key_entry"`}{"gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=","0123456789012345678901234567890123456789012345678901234567890123"})
 b,_:=json.Marshal(r); return b, leaf}
func BenchmarkStrict(b *testing.B){d,_:=mk();b.Log(len(d));for i:=0;i<b.N;i++{var r R; if err:=strictjson.Unmarshal(d,&r);err!=nil{b.Fatal(err)}}}
func BenchmarkPlain(b *testing.B){d,_:=mk();for i:=0;i<b.N;i++{var r R; if err:=json.Unmarshal(d,&r);err!=nil{b.Fatal(err)}}}
func BenchmarkParseLeaf(b *testing.B){_,l:=mk();b.Log(len(l));for i:=0;i<b.N;i++{if _,_,err:=envelope.ParseLeaf(l);err!=nil{b.Fatal(err)}}}
func BenchmarkMarshalLeafBack(b *testing.B){_,l:=mk();ll,_,_:=envelope.ParseLeaf(l);for i:=0;i<b.N;i++{envelope.MarshalLeaf(*ll)}}
