module github.com/vipyrsec/dragonfly-client-go

go 1.26.8

require github.com/hillu/go-yara/v4 v4.2.4
