package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/links"
	"github.com/sorterd/sorterd/pipeline"
	"github.com/sorterd/sorterd/review"
)

// ClassifyResponse is `sorterd --once --json`'s object plus where the
// station would put the item.
type ClassifyResponse struct {
	infer.Report
	Bin    string `json:"bin,omitempty"`
	Action string `json:"action,omitempty"`
	// BinScore is the summed score of the labels in Bin, which the
	// threshold compares (pipeline.Router.BinScore).
	BinScore  float32 `json:"bin_score,omitempty"`
	Threshold float64 `json:"threshold"`
}

// classify takes a multipart upload (field "image") or a raw JPEG/PNG body.
// Uploads are admitted into a bounded queue before their body is read and
// run one (Options.Uploads) at a time; a full queue answers 503 at once.
func (s *Server) classify(w http.ResponseWriter, r *http.Request) {
	select {
	case s.admit <- struct{}{}:
		defer func() { <-s.admit }()
	default:
		s.refused.Inc()
		// The body is read and thrown away (up to the upload limit, never
		// held): a client still sending it would otherwise see its
		// connection reset instead of this answer.
		io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, s.o.Limits.MaxBytes+64<<10))
		w.Header().Set("Retry-After", "1")
		jsonError(w, http.StatusServiceUnavailable, fmt.Sprintf("busy: %d uploads are being classified or waiting; try again", cap(s.admit)))
		return
	}
	data, name, ok := s.readUpload(w, r)
	if !ok {
		return
	}
	release, ok := s.takeTurn(w, r)
	if !ok {
		return
	}
	defer release()
	t0 := time.Now()
	img, err := infer.DecodeImage(data, s.o.Limits)
	if err != nil {
		jsonError(w, decodeStatus(err), name+": "+err.Error())
		return
	}
	defer img.Close()
	decode := time.Since(t0)
	k := 5
	if v := r.URL.Query().Get("top"); v != "" {
		if k, err = strconv.Atoi(v); err != nil || k < 1 {
			jsonError(w, http.StatusBadRequest, "top: want a positive integer")
			return
		}
	}
	k = min(k, len(s.o.Classifier.Labels()))
	res, err := s.o.Classifier.Classify(r.Context(), img, k)
	if err != nil {
		jsonError(w, http.StatusInternalServerError, "classify: "+err.Error())
		return
	}
	out := ClassifyResponse{Report: s.o.Classifier.NewReport(name, res, decode), Threshold: s.o.Threshold}
	s.uploads.Observe(decode.Seconds() + res.Timing.Preprocess.Seconds() + res.Timing.Invoke.Seconds() + res.Timing.Postprocess.Seconds())
	if s.router != nil {
		bin, action, binScore := s.router.RouteScores(res.Label, s.o.Classifier.Labels(), res.Scores)
		out.Bin, out.Action, out.BinScore = bin.Name, action.String(), binScore
	}
	writeJSON(w, http.StatusOK, out)
}

// takeTurn waits, within UploadWait, for the classifier and for the
// station's item in flight; false when it answered 503 instead (or the
// client left). release gives the classifier back.
func (s *Server) takeTurn(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	wait := time.NewTimer(s.o.UploadWait)
	defer wait.Stop()
	select {
	case s.run <- struct{}{}:
	case <-r.Context().Done():
		return nil, false // the client left while waiting
	case <-wait.C:
		// Answer before the server's write timeout cuts the connection.
		s.refused.Inc()
		w.Header().Set("Retry-After", "1")
		jsonError(w, http.StatusServiceUnavailable, fmt.Sprintf("busy: waited %s for the classifier; try again", s.o.UploadWait))
		return nil, false
	}
	release = func() { <-s.run }
	if !s.waitStation(r.Context(), wait.C) {
		s.refused.Inc()
		w.Header().Set("Retry-After", "1")
		jsonError(w, http.StatusServiceUnavailable, fmt.Sprintf("busy: the station sorted items for %s; try again", s.o.UploadWait))
		release()
		return nil, false
	}
	return release, true
}

// decodeStatus is the HTTP status for an upload that does not decode.
func decodeStatus(err error) int {
	switch {
	case errors.Is(err, infer.ErrImageTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, infer.ErrNotImage):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, infer.ErrImageEmpty):
		return http.StatusBadRequest
	}
	return http.StatusUnprocessableEntity
}

// stationPoll is how often an upload waiting for the station looks again.
const stationPoll = 10 * time.Millisecond

// waitStation waits while the station has an item in flight; false when
// deadline fires or the client leaves first.
func (s *Server) waitStation(ctx context.Context, deadline <-chan time.Time) bool {
	if s.o.StationBusy == nil {
		return true
	}
	tick := time.NewTicker(stationPoll)
	defer tick.Stop()
	for s.o.StationBusy() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return false
		case <-deadline:
			return false
		}
	}
	return true
}

// readUpload reads the image of an upload: a multipart form's "image"
// file, or a raw JPEG/PNG body, up to the upload limit. On false the
// answer is written.
func (s *Server) readUpload(w http.ResponseWriter, r *http.Request) (data []byte, name string, ok bool) {
	ct, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil && r.Header.Get("Content-Type") != "" {
		jsonError(w, http.StatusUnsupportedMediaType, "bad Content-Type: "+err.Error())
		return nil, "", false
	}
	// Room for the multipart framing around the largest accepted image.
	r.Body = http.MaxBytesReader(w, r.Body, s.o.Limits.MaxBytes+64<<10)
	name = "upload"
	switch ct {
	case "image/jpeg", "image/png", "application/octet-stream":
		data, err = io.ReadAll(r.Body)
	case "multipart/form-data":
		data, name, err = readPart(r.Body, params["boundary"])
	default:
		jsonError(w, http.StatusUnsupportedMediaType,
			fmt.Sprintf("Content-Type %q: send multipart/form-data with an \"image\" file, or an image/jpeg or image/png body", ct))
		return nil, "", false
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			jsonError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("upload larger than %d bytes", s.o.Limits.MaxBytes))
			return nil, "", false
		}
		jsonError(w, http.StatusBadRequest, "read upload: "+err.Error())
		return nil, "", false
	}
	return data, name, true
}

// readPart returns the "image" file of a multipart body (or its first file).
func readPart(body io.Reader, boundary string) ([]byte, string, error) {
	if boundary == "" {
		return nil, "", errors.New("multipart body without a boundary")
	}
	mr := multipart.NewReader(body, boundary)
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return nil, "", errors.New(`no "image" file in the form`)
		}
		if err != nil {
			return nil, "", err
		}
		if p.FormName() == "image" || p.FileName() != "" {
			name := filepath.Base(p.FileName())
			if name == "." || name == "/" {
				name = "upload"
			}
			data, err := io.ReadAll(p)
			return data, name, err
		}
	}
}

// Status is GET /api/status.
type Status struct {
	Version  string          `json:"version"`
	UptimeS  float64         `json:"uptime_s"`
	Labels   []string        `json:"labels"`
	Bins     []string        `json:"bins"`
	Station  *pipeline.Stats `json:"station,omitempty"`
	Running  bool            `json:"running"`
	Healthy  bool            `json:"healthy"`
	Problem  string          `json:"problem,omitempty"`
	Links    links.State     `json:"links"`
	Classify bool            `json:"classify"`
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st := Status{Version: s.o.Version, UptimeS: time.Since(s.started).Seconds(), Labels: s.o.Classifier.Labels(),
		Links: s.o.Links(), Classify: true, Bins: []string{}}
	for _, b := range s.o.Bins {
		st.Bins = append(st.Bins, b.Name)
	}
	if s.o.Station != nil {
		stats := s.o.Station.Stats()
		st.Station, st.Running = &stats, true
		if err := s.o.Station.Health(time.Now(), s.o.Stall); err != nil {
			st.Problem = err.Error()
		} else if p := linkProblem(st.Links); p != "" {
			st.Problem = p
		} else {
			st.Healthy = true
		}
	} else {
		st.Healthy = true
	}
	writeJSON(w, http.StatusOK, st)
}

// noStation is the answer of `sorterd serve` to what needs a station.
const noStation = "no station here (sorterd serve classifies uploads only)"

// station returns the station, or answers 503 in `sorterd serve`.
func (s *Server) station(w http.ResponseWriter) Station {
	if s.o.Station == nil {
		jsonError(w, http.StatusServiceUnavailable, noStation)
	}
	return s.o.Station
}

// review returns the station's review, or answers 503 in `sorterd serve`.
func (s *Server) review(w http.ResponseWriter) Review {
	if s.o.Review == nil {
		jsonError(w, http.StatusServiceUnavailable, noStation)
	}
	return s.o.Review
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	st := s.review(w)
	if st == nil {
		return
	}
	limit := 20
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			jsonError(w, http.StatusBadRequest, "limit: want an integer from 1 to 1000")
			return
		}
		limit = n
	}
	items := st.Items(limit)
	if items == nil {
		items = []review.Item{}
	}
	writeJSON(w, http.StatusOK, items)
}

func (s *Server) image(w http.ResponseWriter, r *http.Request) {
	st := s.review(w)
	if st == nil {
		return
	}
	// ?thumb=1 (the list's small image, box drawn), ?kind=crop (what
	// the model saw), or the full frame.
	kind := r.URL.Query().Get("kind")
	if r.URL.Query().Get("thumb") != "" {
		kind = review.ImageThumb
	}
	b, err := st.Image(r.PathValue("id"), kind)
	if err != nil {
		jsonError(w, statusOf(err), err.Error())
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.Write(b)
}

// LabelRequest is POST /api/events/{id}/label's body.
type LabelRequest struct {
	Label string `json:"label"`
}

// LabelResponse says where the sample went.
type LabelResponse struct {
	ID    string `json:"id"`
	Label string `json:"label"`
	File  string `json:"file"`
}

func (s *Server) label(w http.ResponseWriter, r *http.Request) {
	st := s.review(w)
	if st == nil {
		return
	}
	var req LabelRequest
	if !readJSON(w, r, &req) {
		return
	}
	path, err := st.Correct(r.PathValue("id"), req.Label)
	if err != nil {
		jsonError(w, statusOf(err), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, LabelResponse{ID: r.PathValue("id"), Label: req.Label, File: path})
}

// readJSON decodes a small JSON body; cross-site forms cannot send one.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		jsonError(w, http.StatusUnsupportedMediaType, "send Content-Type: application/json")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		jsonError(w, http.StatusBadRequest, "bad JSON body: "+err.Error())
		return false
	}
	return true
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, review.ErrNoItem):
		return http.StatusNotFound
	case errors.Is(err, review.ErrLabel):
		return http.StatusBadRequest
	case errors.Is(err, review.ErrNoSamples), errors.Is(err, review.ErrNoFrame):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

type pausedResponse struct {
	Paused bool `json:"paused"`
}

func (s *Server) pause(w http.ResponseWriter, r *http.Request) {
	if st := s.station(w); st != nil {
		st.Pause()
		writeJSON(w, http.StatusOK, pausedResponse{true})
	}
}

func (s *Server) resume(w http.ResponseWriter, r *http.Request) {
	if st := s.station(w); st != nil {
		st.Resume()
		writeJSON(w, http.StatusOK, pausedResponse{false})
	}
}

func (s *Server) testFlap(w http.ResponseWriter, r *http.Request) {
	st := s.station(w)
	if st == nil {
		return
	}
	bin := r.PathValue("bin")
	known := false
	for _, b := range s.o.Bins {
		known = known || b.Name == bin
	}
	if !known {
		jsonError(w, http.StatusNotFound, fmt.Sprintf("no bin %q", bin))
		return
	}
	// The station bounds a test flap (pipeline.TestFlapTimeout).
	if err := st.TestFlap(r.Context(), bin); err != nil {
		jsonError(w, http.StatusInternalServerError, "flap "+bin+": "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"bin": bin, "result": "opened"})
}

func (s *Server) frame(w http.ResponseWriter, r *http.Request) {
	st := s.review(w)
	if st == nil {
		return
	}
	b, at, err := st.Snapshot()
	if err != nil {
		jsonError(w, statusOf(err), err.Error())
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Time", at.UTC().Format(time.RFC3339Nano))
	w.Write(b)
}

// The live stream's pace, and how long one frame may take to write.
const (
	streamPeriod = 200 * time.Millisecond // 5 frames/s
	streamWrite  = 10 * time.Second
)

// stream is an MJPEG stream of the live view at up to 5 frames/s, for
// players and Home Assistant's MJPEG camera.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	st := s.review(w)
	if st == nil {
		return
	}
	const boundary = "sorterdframe"
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary="+boundary)
	w.Header().Set("Cache-Control", "no-store")
	t := time.NewTicker(streamPeriod)
	defer t.Stop()
	var last time.Time
	for {
		if b, at, err := st.Snapshot(); err == nil && at != last {
			last = at
			rc.SetWriteDeadline(time.Now().Add(streamWrite))
			var hdr bytes.Buffer
			fmt.Fprintf(&hdr, "--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", boundary, len(b))
			if _, err := w.Write(hdr.Bytes()); err != nil {
				return
			}
			if _, err := w.Write(append(b, '\r', '\n')); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
		}
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
	}
}

type health struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// healthz is 200 while the pipeline progresses (frames arrive, no
// inference hangs), events reach the disk and the broker takes them; 503
// with the reason otherwise: "unhealthy" for a stuck pipeline, "degraded"
// for an outbox that keeps events in memory only or a broker that cannot
// be reached or refuses the login (the station still sorts).
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if s.o.Station == nil {
		writeJSON(w, http.StatusOK, health{Status: "ok"})
		return
	}
	if err := s.o.Station.Health(time.Now(), s.o.Stall); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, health{Status: "unhealthy", Reason: err.Error()})
		return
	}
	if p := linkProblem(s.o.Links()); p != "" {
		writeJSON(w, http.StatusServiceUnavailable, health{Status: "degraded", Reason: p})
		return
	}
	switch st := s.o.Station.Stats(); {
	case st.LightDrifted:
		writeJSON(w, http.StatusServiceUnavailable, health{Status: "degraded", Reason: lightDrifted})
		return
	case st.Occupied:
		writeJSON(w, http.StatusServiceUnavailable, health{Status: "degraded", Reason: trayOccupied})
		return
	}
	writeJSON(w, http.StatusOK, health{Status: "ok"})
}

// lightDrifted is /healthz's reason when the light has changed beyond
// what the crop's colour correction undoes.
const lightDrifted = "light or camera changed beyond what can be corrected since the reference tray: check the lamp and the camera's exposure, then run sorterd calibrate"

// trayOccupied is /healthz's reason when something has lain on the tray
// for far longer than an item does.
const trayOccupied = "something has lain on the tray for far longer than an item does: take it away (the tray is learned anew after a minute)"

// linkProblem is what is wrong with the links that makes the station
// degraded, or "".
func linkProblem(l links.State) string {
	return l.MQTT.Degraded()
}
