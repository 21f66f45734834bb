package engine

import (
	"testing"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/tlog"
)

func TestTilePaths(t *testing.T) {
	for _, tc := range []struct {
		path string
		want tlog.Tile
	}{
		{"tile/0/000", tlog.Tile{H: 8, L: 0, N: 0, W: 256}},
		{"tile/0/x001/234", tlog.Tile{H: 8, L: 0, N: 1234, W: 256}},
		{"tile/1/x001/x234/067.p/8", tlog.Tile{H: 8, L: 1, N: 1234067, W: 8}},
		{"tile/entries/005.p/17", tlog.Tile{H: 8, L: -1, N: 5, W: 17}},
		{"tile/entries/x123/456", tlog.Tile{H: 8, L: -1, N: 123456, W: 256}},
	} {
		got, err := torchwood.ParseTilePath(tc.path)
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v, %v; want %+v", tc.path, got, err, tc.want)
		}
	}
	for _, bad := range []string{
		"tile/0/1234", "tile/0/x1/234", "tile/0/x001/234.p/0", "tile/0/000.p/256", "tile/0/000.p/", "tile/-1/000",
		"tile/entries/000.p/300", "tile/0/0000", "tile//000", "tile/0/000/", "checkpoint", "tile/0/x000/000.p/1/",
	} {
		if _, err := torchwood.ParseTilePath(bad); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}

func TestTileCovered(t *testing.T) {
	for _, tc := range []struct {
		t     tlog.Tile
		size  uint64
		first uint64
		ok    bool
	}{
		{tlog.Tile{H: 8, L: 0, N: 0, W: 256}, 256, 0, true},
		{tlog.Tile{H: 8, L: 0, N: 0, W: 256}, 255, 0, false},
		{tlog.Tile{H: 8, L: 0, N: 1, W: 3}, 259, 256, true},
		{tlog.Tile{H: 8, L: 0, N: 1, W: 4}, 259, 256, false},
		{tlog.Tile{H: 8, L: 1, N: 0, W: 2}, 600, 0, true}, // two complete 256-leaf subtrees
		{tlog.Tile{H: 8, L: 1, N: 0, W: 3}, 600, 0, false},
		{tlog.Tile{H: 8, L: 2, N: 0, W: 1}, 65535, 0, false},
		{tlog.Tile{H: 8, L: 8, N: 0, W: 1}, 1 << 62, 0, false}, // above the tree
		{tlog.Tile{H: 8, L: 0, N: 1 << 60, W: 1}, 1 << 62, 0, false},
	} {
		first, ok := tileCovered(tc.t, tc.size)
		if ok != tc.ok || (ok && first != tc.first) {
			t.Errorf("tileCovered(%+v, %d) = %d, %v; want %d, %v", tc.t, tc.size, first, ok, tc.first, tc.ok)
		}
	}
}

// FuzzTilePath checks the tile path parser trialogd uses: linear, and
// whatever it accepts is the one canonical path of its tile, whose bounds
// check neither panics nor overflows.
func FuzzTilePath(f *testing.F) {
	for _, s := range []string{"tile/0/x001/234", "tile/entries/005.p/17", "tile/3/x999/x999/x999/999.p/255", "tile/0/000.p/0"} {
		f.Add(s, uint64(1<<20))
	}
	f.Fuzz(func(t *testing.T, path string, size uint64) {
		tile, err := torchwood.ParseTilePath(path)
		if err != nil {
			return
		}
		if got := torchwood.TilePath(tile); got != path {
			t.Fatalf("%q parsed as %+v, whose path is %q", path, tile, got)
		}
		if tile.W < 1 || tile.W > 256 || tile.N < 0 || tile.L < -1 {
			t.Fatalf("%q parsed out of range: %+v", path, tile)
		}
		if tile.L >= 0 {
			if first, ok := tileCovered(tile, size); ok && (first+uint64(tile.W))<<uint(8*tile.L) > size {
				t.Fatalf("tile %+v claimed covered by a tree of %d", tile, size)
			}
		}
	})
}
