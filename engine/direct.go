package engine

import (
	"context"

	"github.com/google/trillian"
	"google.golang.org/grpc"
)

// directLogClient calls the in-process Trillian log server's methods
// directly: the same server code a gRPC call reaches, without marshalling
// every leaf and proof through a loopback socket.
type directLogClient struct{ s trillian.TrillianLogServer }

var _ trillian.TrillianLogClient = directLogClient{}

func (d directLogClient) QueueLeaf(ctx context.Context, in *trillian.QueueLeafRequest, _ ...grpc.CallOption) (*trillian.QueueLeafResponse, error) {
	return d.s.QueueLeaf(ctx, in)
}

func (d directLogClient) GetInclusionProof(ctx context.Context, in *trillian.GetInclusionProofRequest, _ ...grpc.CallOption) (*trillian.GetInclusionProofResponse, error) {
	return d.s.GetInclusionProof(ctx, in)
}

func (d directLogClient) GetInclusionProofByHash(ctx context.Context, in *trillian.GetInclusionProofByHashRequest, _ ...grpc.CallOption) (*trillian.GetInclusionProofByHashResponse, error) {
	return d.s.GetInclusionProofByHash(ctx, in)
}

func (d directLogClient) GetConsistencyProof(ctx context.Context, in *trillian.GetConsistencyProofRequest, _ ...grpc.CallOption) (*trillian.GetConsistencyProofResponse, error) {
	return d.s.GetConsistencyProof(ctx, in)
}

func (d directLogClient) GetLatestSignedLogRoot(ctx context.Context, in *trillian.GetLatestSignedLogRootRequest, _ ...grpc.CallOption) (*trillian.GetLatestSignedLogRootResponse, error) {
	return d.s.GetLatestSignedLogRoot(ctx, in)
}

func (d directLogClient) GetEntryAndProof(ctx context.Context, in *trillian.GetEntryAndProofRequest, _ ...grpc.CallOption) (*trillian.GetEntryAndProofResponse, error) {
	return d.s.GetEntryAndProof(ctx, in)
}

func (d directLogClient) InitLog(ctx context.Context, in *trillian.InitLogRequest, _ ...grpc.CallOption) (*trillian.InitLogResponse, error) {
	return d.s.InitLog(ctx, in)
}

func (d directLogClient) AddSequencedLeaves(ctx context.Context, in *trillian.AddSequencedLeavesRequest, _ ...grpc.CallOption) (*trillian.AddSequencedLeavesResponse, error) {
	return d.s.AddSequencedLeaves(ctx, in)
}

func (d directLogClient) GetLeavesByRange(ctx context.Context, in *trillian.GetLeavesByRangeRequest, _ ...grpc.CallOption) (*trillian.GetLeavesByRangeResponse, error) {
	return d.s.GetLeavesByRange(ctx, in)
}
