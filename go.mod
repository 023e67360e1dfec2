module github.com/fumo-gw/fumo-gw

go 1.26

require (
	github.com/beevik/etree v1.8.1
	go.etcd.io/bbolt v1.5.0
)

require golang.org/x/sys v0.45.0 // indirect
