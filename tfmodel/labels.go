package tfmodel

import (
	"archive/zip"
	"bufio"
	"bytes"
	"io"
	"strings"
)

// readTFLiteMetadata picks what sorterd uses from the TFLite metadata
// flatbuffer (metadata_schema.fbs): the input normalisation and the name
// of the output's axis-label file. Anything it cannot read is ignored: the
// metadata is advisory, the model still runs.
func (m *Model) readTFLiteMetadata(meta []byte) {
	defer func() { _ = recover() }()
	root := fbuf(meta).root()
	sgs, ok := root.tables(metaSubgraphMetadata)
	if !ok || sgs.n == 0 {
		return
	}
	sg := sgs.table(0)
	if ins, ok := sg.tables(metaSubgraphInputs); ok && ins.n > 0 {
		if pus, ok := ins.table(0).tables(metaTensorProcessUnits); ok {
			for j := 0; j < pus.n; j++ {
				pu := pus.table(j)
				if pu.u8(metaProcessUnitOptionsType, 0) != metaNormalizationOptions {
					continue
				}
				if opt, ok := pu.sub(metaProcessUnitOptions); ok {
					m.Mean = opt.floats(metaNormMean)
					m.Std = opt.floats(metaNormStd)
				}
			}
		}
	}
	if outs, ok := sg.tables(metaSubgraphOutputs); ok && outs.n > 0 {
		if files, ok := outs.table(0).tables(metaTensorAssociatedFiles); ok {
			for j := 0; j < files.n; j++ {
				f := files.table(j)
				if f.u8(metaFileType, 0) == metaAxisLabels {
					m.LabelFile = f.str(metaFileName)
					return
				}
			}
		}
	}
}

// appendedFiles reads the zip archive that TFLite metadata tooling appends
// to a model (the flatbuffer stays valid; the zip reader finds its
// directory at the end of the file).
func appendedFiles(data []byte) map[string][]byte {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		if f.UncompressedSize64 > maxAppendedFile {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(rc, maxAppendedFile))
		rc.Close()
		if err == nil {
			files[f.Name] = b
		}
	}
	return files
}

// EmbeddedLabels returns the label list the model carries and where it
// came from: sorterd's own metadata, else the TFLite metadata's
// axis-label file, else the only .txt file appended to the model.
func (m *Model) EmbeddedLabels() (labels []string, source string, ok bool) {
	if m.Sorterd != nil && len(m.Sorterd.Labels) > 0 {
		return m.Sorterd.Labels, "sorterd metadata", true
	}
	if m.LabelFile != "" {
		if b, ok := m.Files[m.LabelFile]; ok {
			return ParseLabels(b), m.LabelFile, true
		}
	}
	var name string
	for n := range m.Files {
		if strings.HasSuffix(n, ".txt") {
			if name != "" {
				return nil, "", false
			}
			name = n
		}
	}
	if name == "" {
		return nil, "", false
	}
	return ParseLabels(m.Files[name]), name, true
}

// ParseLabels reads one label per line; blank trailing lines are dropped,
// surrounding space is trimmed.
func ParseLabels(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		out = append(out, strings.TrimSpace(sc.Text()))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}
