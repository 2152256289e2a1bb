package train

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
)

// headFile is what `sorterd train` keeps beside the exported model: the
// trained head and how to rebuild the model from the official backbone.
// It is small (weights of one layer, labels), so the repository can ship
// it and `make model` can assemble models/garbage.tflite without the data.
type headFile struct {
	Base       string         `json:"base"`        // file name of the base model
	BaseSHA256 string         `json:"base_sha256"` // exact base it was trained on
	Export     exportOptions  `json:"export"`
	Head       *softmaxHead   `json:"head"`
	Report     map[string]any `json:"report,omitempty"`
}

// writeHeadFile saves a head file (JSON).
func writeHeadFile(path string, hf *headFile) error {
	b, err := json.Marshal(hf)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b)
}

// Assemble rebuilds a model from a head file and its base model; the base
// must be the exact file the head was trained on.
func Assemble(headPath, basePath string) ([]byte, error) {
	b, err := os.ReadFile(headPath)
	if err != nil {
		return nil, err
	}
	var hf headFile
	if err := json.Unmarshal(b, &hf); err != nil {
		return nil, fmt.Errorf("head file %s: %w", headPath, err)
	}
	if hf.Head == nil || len(hf.Head.W) == 0 {
		return nil, fmt.Errorf("head file %s: no head", headPath)
	}
	base, err := os.ReadFile(basePath)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(base)
	if got := hex.EncodeToString(sum[:]); hf.BaseSHA256 != "" && got != hf.BaseSHA256 {
		return nil, fmt.Errorf("base model %s has sha256 %s, the head was trained on %s (%s)", basePath, got, hf.BaseSHA256, hf.Base)
	}
	return exportModel(base, hf.Head, hf.Export)
}
