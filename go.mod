module github.com/vipyrsec/dragonfly-client-go

go 1.26.8

require (
	github.com/caarlos0/env/v11 v11.4.2
	github.com/hillu/go-yara/v4 v4.2.4
	github.com/klauspost/compress v1.20.3
	github.com/ulikunitz/xz v0.5.17
	go.uber.org/zap v1.28.0
	golang.org/x/sync v0.24.0
)

require (
	github.com/cenkalti/backoff/v5 v5.0.3 // indirect
	go.uber.org/goleak v1.3.0 // indirect
	go.uber.org/multierr v1.10.0 // indirect
	golang.org/x/net v0.47.0 // indirect
	golang.org/x/oauth2 v0.30.0 // indirect
	golang.org/x/text v0.31.0 // indirect
)
