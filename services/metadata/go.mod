module github.com/anvil-store/anvil/services/metadata

go 1.26.0

require (
	github.com/anvil-store/anvil/pkg v0.0.0
	github.com/anvil-store/anvil/proto v0.0.0
)

replace (
	github.com/anvil-store/anvil/pkg => ../../pkg
	github.com/anvil-store/anvil/proto => ../../proto
)
