package train

import "testing"

// The threshold is chosen as the station routes. An item scored paper
// 0.503, cardboard 0.447 is a sure paper-bin item (0.95), and a cardboard
// item taken for paper is in the right bin. Chosen on the best class
// alone, the threshold would reject both paper-bin items here.
func TestThresholdChosenOnBins(t *testing.T) {
	classes := []string{"cardboard", "glass", "paper"}
	b, err := newBinning(classes, [][]string{{"glass"}, {"paper", "cardboard"}, {"trash"}})
	if err != nil {
		t.Fatal(err)
	}
	probs := [][]float32{
		{0.447, 0.05, 0.503}, // cardboard, taken for paper
		{0.40, 0.10, 0.50},   // paper
		{0.05, 0.90, 0.05},   // glass
		{0.2, 0.337, 0.463},  // glass, taken for paper: the paper bin's 0.663
	}
	y := []int{0, 2, 1, 1}
	truth, pred, conf := b.rows(y, probs)
	wantConf := []float64{0.95, 0.90, 0.90, 0.663}
	for i := range y {
		if d := conf[i] - wantConf[i]; d > 1e-6 || d < -1e-6 || (truth[i] == pred[i]) != (i != 3) {
			t.Errorf("row %d: truth bin %d, predicted bin %d, score %.2f; want score %.2f, right %v", i, truth[i], pred[i], conf[i], wantConf[i], i != 3)
		}
	}
	bt := suggestThreshold(truth, pred, conf, 0.97)
	if bt != 0.67 {
		t.Errorf("threshold on bins %.2f, want 0.67 (above the glass taken for paper)", bt)
	}
	var ct, cp []int
	var cc []float64
	for i, p := range probs {
		k := argmax(p)
		ct, cp, cc = append(ct, y[i]), append(cp, k), append(cc, float64(p[k]))
	}
	tc := suggestThreshold(ct, cp, cc, 0.97)
	if tc != 0.51 {
		t.Errorf("threshold on classes %.2f, want 0.51", tc)
	}
	if on, off := thresholdPoint(truth, pred, conf, bt).Coverage, thresholdPoint(ct, cp, cc, tc).Coverage; on != 0.75 || off != 0.25 {
		t.Errorf("accepted: %.2f on bins, %.2f on classes; want 0.75 and 0.25", on, off)
	}
}

func TestBinningClassInTwoBins(t *testing.T) {
	if _, err := newBinning([]string{"paper", "cardboard"}, [][]string{{"paper"}, {"paper", "cardboard"}}); err == nil {
		t.Fatal("a class in two bins was accepted")
	}
}
