package recording_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/sorterd/sorterd/recording"
)

// Write lays photos on a synthetic tray, one after the other, and says in
// which frames each lies: what a station replaying the file must find.
// The same seed makes the same file.
func ExampleWrite() {
	dir, err := os.MkdirTemp("", "recording")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	items, err := recording.Write(filepath.Join(dir, "tray.avi"), recording.Options{
		Photos: []recording.Photo{
			{Path: filepath.Join("..", "testdata", "images", "scene.jpg"), Class: "scene"},
			{Path: filepath.Join("..", "testdata", "images", "red.png"), Class: "red"},
		},
		Tray: recording.Dark, Hold: 10, Gap: 5, Seed: 1,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, it := range items {
		fmt.Printf("%s: frames %d..%d\n", it.Class, it.First, it.Last)
	}
	// Output:
	// scene: frames 5..15
	// red: frames 22..32
}
