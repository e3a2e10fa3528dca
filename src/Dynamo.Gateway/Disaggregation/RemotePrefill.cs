using System.Text.Json;
using Dynamo.Contracts.Discovery;

namespace Dynamo.Gateway.Disaggregation;

/// <summary>
/// A prompt prefilled in the prefill pool: the decode request's <c>kv_transfer_params</c>, and the prefill worker and
/// request id (the <c>x-request-id</c> it was called with) to release its pins by if the decode never reads them.
/// </summary>
internal sealed record RemotePrefill(JsonElement Params, WorkerInstance Worker, string RequestId);
