module github.com/vipyrsec/dragonfly-client-go

go 1.26.8

require github.com/hillu/go-yara/v4 v4.2.4

require (
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/ulikunitz/xz v0.5.17 // indirect
)
