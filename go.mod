module github.com/sorterd/sorterd

go 1.26.8

require (
	github.com/mattn/go-tflite v1.0.4
	gocv.io/x/gocv v0.32.0
)

require github.com/mattn/go-pointer v0.0.1 // indirect
