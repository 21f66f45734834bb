package receipt

// ParseLeaf exposes the verifier's leaf reader to tests.
var ParseLeaf = parseLeaf

// FastLeaf reports whether the fast path reads b.
func FastLeaf(b []byte) bool { _, ok := fastLeaf(b); return ok }
