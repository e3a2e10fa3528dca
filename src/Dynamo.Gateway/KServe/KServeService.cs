using System.Reflection;
using Dynamo.Contracts.OpenAi;
using Dynamo.Gateway.KServe.Protocol;
using Dynamo.Gateway.Models;
using Dynamo.Gateway.Pipeline;
using Dynamo.Llm.Protocol;
using Grpc.Core;
using Microsoft.AspNetCore.Http;

namespace Dynamo.Gateway.KServe;

/// <summary>
/// KServe's v2 inference protocol over gRPC (<c>inference.GRPCInferenceService</c>), on <c>Dynamo:Gateway:GrpcPort</c>:
/// health and metadata from the gateway's model catalog and worker directory, and <c>ModelInfer</c> /
/// <c>ModelStreamInfer</c> served by the same request path as HTTP (<see cref="CompletionPipeline"/>: admission,
/// routing, disaggregation, migration, limits, API keys and metrics; <c>endpoint="kserve"</c>) through the text
/// mapping of <see cref="KServeRequest"/>. Errors of <c>ModelInfer</c> are gRPC statuses; on a stream they are
/// responses with <c>error_message</c>, and the stream goes on. Requests on one stream are served in order.
/// </summary>
internal sealed class KServeService(CompletionPipeline pipeline, ModelCatalog models, WorkerDirectory workers, GatewayOptions options)
    : GRPCInferenceService.GRPCInferenceServiceBase
{
    private static readonly string Version =
        typeof(KServeService).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0";

    private readonly RequestLimits _limits = new() { MaxN = options.MaxN, MaxTokensCap = options.MaxTokensCap };

    public override Task<ServerLiveResponse> ServerLive(ServerLiveRequest request, ServerCallContext context) =>
        Task.FromResult(new ServerLiveResponse { Live = true });

    public override Task<ServerReadyResponse> ServerReady(ServerReadyRequest request, ServerCallContext context) =>
        Task.FromResult(new ServerReadyResponse { Ready = workers.ServableCount > 0 });

    public override Task<ModelReadyResponse> ModelReady(ModelReadyRequest request, ServerCallContext context) =>
        Task.FromResult(new ModelReadyResponse { Ready = models.TryGet(request.Name, out _) && workers.Candidates(request.Name).Count > 0 });

    public override Task<ServerMetadataResponse> ServerMetadata(ServerMetadataRequest request, ServerCallContext context) =>
        Task.FromResult(new ServerMetadataResponse { Name = "dynamo", Version = Version });

    public override Task<ModelMetadataResponse> ModelMetadata(ModelMetadataRequest request, ServerCallContext context)
    {
        if (!models.TryGet(request.Name, out _))
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"The model '{OpenAiException.Shorten(request.Name)}' does not exist."));
        }

        var metadata = new ModelMetadataResponse { Name = request.Name, Platform = "dynamo" };
        metadata.Versions.Add("1");
        foreach (var (name, datatype, shape) in KServeRequest.Inputs)
        {
            metadata.Inputs.Add(Tensor(name, datatype, shape));
        }

        foreach (var (name, datatype, shape) in KServeRequest.Outputs)
        {
            metadata.Outputs.Add(Tensor(name, datatype, shape));
        }

        return Task.FromResult(metadata);
    }

    public override async Task<ModelInferResponse> ModelInfer(ModelInferRequest request, ServerCallContext context)
    {
        ModelInferResponse? result = null;
        var error = await InferAsync(request, context, streamAllowed: false, response =>
        {
            result = response;
            return Task.CompletedTask;
        });
        if (error is not null)
        {
            throw new RpcException(new Status(StatusOf(error.StatusCode), error.Message));
        }

        return result ?? throw new RpcException(new Status(StatusCode.Cancelled, "The request was cancelled."));
    }

    public override async Task ModelStreamInfer(IAsyncStreamReader<ModelInferRequest> requestStream, IServerStreamWriter<ModelStreamInferResponse> responseStream, ServerCallContext context)
    {
        await foreach (var request in requestStream.ReadAllAsync(context.CancellationToken))
        {
            var error = await InferAsync(request, context, streamAllowed: true, response =>
                responseStream.WriteAsync(new ModelStreamInferResponse { InferResponse = response }, context.CancellationToken));
            if (error is not null)
            {
                await responseStream.WriteAsync(new ModelStreamInferResponse
                {
                    ErrorMessage = error.Message,
                    InferResponse = new ModelInferResponse { ModelName = request.ModelName, Id = request.Id },
                }, context.CancellationToken);
            }
        }
    }

    private async Task<OpenAiException?> InferAsync(ModelInferRequest request, ServerCallContext context, bool streamAllowed, Func<ModelInferResponse, Task> send)
    {
        ParsedRequest parsed;
        bool streaming;
        HashSet<string>? wanted;
        try
        {
            (parsed, streaming, wanted) = KServeRequest.Parse(request, _limits);
        }
        catch (OpenAiException error)
        {
            return error;
        }

        if (streaming && !streamAllowed)
        {
            return OpenAiException.BadRequest("'streaming' is true: streamed responses need ModelStreamInfer; ModelInfer answers once.", "streaming");
        }

        var front = new KServeFront(request, parsed, streaming, wanted, send);
        await pipeline.HandleAsync(context.GetHttpContext(), front);
        return front.Error;
    }

    private static ModelMetadataResponse.Types.TensorMetadata Tensor(string name, string datatype, long[] shape)
    {
        var tensor = new ModelMetadataResponse.Types.TensorMetadata { Name = name, Datatype = datatype };
        tensor.Shape.Add(shape);
        return tensor;
    }

    /// <summary>The gRPC status for an HTTP status of the request path.</summary>
    internal static StatusCode StatusOf(int httpStatus) => httpStatus switch
    {
        StatusCodes.Status400BadRequest or StatusCodes.Status413PayloadTooLarge or StatusCodes.Status422UnprocessableEntity => StatusCode.InvalidArgument,
        StatusCodes.Status401Unauthorized => StatusCode.Unauthenticated,
        StatusCodes.Status403Forbidden => StatusCode.PermissionDenied,
        StatusCodes.Status404NotFound => StatusCode.NotFound,
        StatusCodes.Status408RequestTimeout or StatusCodes.Status504GatewayTimeout => StatusCode.DeadlineExceeded,
        StatusCodes.Status429TooManyRequests => StatusCode.ResourceExhausted,
        StatusCodes.Status502BadGateway or StatusCodes.Status503ServiceUnavailable => StatusCode.Unavailable,
        _ => StatusCode.Internal,
    };
}
