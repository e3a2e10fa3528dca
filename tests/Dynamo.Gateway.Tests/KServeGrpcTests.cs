using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using Dynamo.Gateway.KServe.Protocol;
using Dynamo.Gateway.Tests.Infrastructure;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace Dynamo.Gateway.Tests;

/// <summary>
/// A cluster whose gateway also serves the KServe v2 gRPC frontend, on a port of its own. The mocker keeps its step
/// timing (sped up): with none, a whole answer can reach the gateway in one read and a stream then has one response.
/// </summary>
public sealed class GrpcClusterFixture : IAsyncLifetime
{
    public TestCluster Cluster { get; private set; } = null!;

    public GrpcChannel Channel { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Cluster = await TestCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Dynamo:Gateway:GrpcPort"] = "0",
            ["Dynamo:Mocker:ZeroDelay"] = "false",
            ["Dynamo:Mocker:SpeedupFactor"] = "4",
        });
        Channel = GrpcChannel.ForAddress(Cluster.Cluster.GrpcAddress!);
    }

    public async Task DisposeAsync()
    {
        Channel.Dispose();
        await Cluster.DisposeAsync();
    }
}

/// <summary>
/// The KServe v2 gRPC frontend over the wire, with Grpc.Net.Client and the client stubs generated from the protocol
/// file (and, in <see cref="NodeGrpcClient_PassesItsChecks"/>, with @grpc/grpc-js loading the same file): health,
/// metadata, ModelInfer (typed and raw contents), ModelStreamInfer (streamed text, in-stream errors), refusals.
/// </summary>
public sealed class KServeGrpcTests(GrpcClusterFixture fixture) : IClassFixture<GrpcClusterFixture>
{
    private readonly TestCluster _cluster = fixture.Cluster;

    private GRPCInferenceService.GRPCInferenceServiceClient Client => new(fixture.Channel);

    [Fact]
    public async Task HealthAndMetadata()
    {
        Assert.True((await Client.ServerLiveAsync(new ServerLiveRequest())).Live);
        Assert.True((await Client.ServerReadyAsync(new ServerReadyRequest())).Ready);
        Assert.True((await Client.ModelReadyAsync(new ModelReadyRequest { Name = _cluster.Model })).Ready);
        Assert.False((await Client.ModelReadyAsync(new ModelReadyRequest { Name = "no-such-model" })).Ready);
        Assert.Equal("dynamo", (await Client.ServerMetadataAsync(new ServerMetadataRequest())).Name);

        var metadata = await Client.ModelMetadataAsync(new ModelMetadataRequest { Name = _cluster.Model });
        Assert.Contains(metadata.Inputs, i => i.Name == "text_input" && i.Datatype == "BYTES");
        Assert.Contains(metadata.Outputs, o => o.Name == "text_output" && o.Datatype == "BYTES");
        var missing = await Assert.ThrowsAsync<RpcException>(async () => await Client.ModelMetadataAsync(new ModelMetadataRequest { Name = "no-such-model" }));
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task ModelInfer_ServesTheCompletionPath()
    {
        var response = await Client.ModelInferAsync(Request("The capital of France is", maxTokens: 8));

        Assert.Equal("req-1", response.Id);
        Assert.Equal("length", Output(response, "finish_reason"));
        Assert.Equal(8, response.Parameters["completion_tokens"].Int64Param);
        using var http = await Json.PostAsync(_cluster.Client, "v1/completions", new { model = _cluster.Model, prompt = "The capital of France is", max_tokens = 8, temperature = 0 });
        var completion = await Json.ReadAsync(http);
        Assert.Equal(completion["choices"]![0]!["text"]!.GetValue<string>(), Output(response, "text_output"));
        Assert.Equal(completion["usage"]!["prompt_tokens"]!.GetValue<int>(), response.Parameters["prompt_tokens"].Int64Param);

        // The same request with raw contents (length-prefixed BYTES, little-endian scalars), as Triton's clients send.
        var raw = new ModelInferRequest { ModelName = _cluster.Model, Id = "req-raw" };
        raw.Inputs.Add(new ModelInferRequest.Types.InferInputTensor { Name = "text_input", Datatype = "BYTES", Shape = { 1 } });
        raw.Inputs.Add(new ModelInferRequest.Types.InferInputTensor { Name = "max_tokens", Datatype = "INT32", Shape = { 1 } });
        raw.Inputs.Add(new ModelInferRequest.Types.InferInputTensor { Name = "temperature", Datatype = "FP32", Shape = { 1 } });
        raw.RawInputContents.Add(LengthPrefixed("The capital of France is"));
        raw.RawInputContents.Add(ByteString.CopyFrom(BitConverter.GetBytes(8)));
        raw.RawInputContents.Add(ByteString.CopyFrom(BitConverter.GetBytes(0f)));
        Assert.Equal(Output(response, "text_output"), Output(await Client.ModelInferAsync(raw), "text_output"));

        var metrics = await _cluster.Client.GetStringAsync("metrics");
        Assert.Contains("endpoint=\"kserve\"", metrics);
    }

    [Fact]
    public async Task ModelStreamInfer_StreamsText_AndAnswersErrorsInTheStream()
    {
        var whole = Output(await Client.ModelInferAsync(Request("Once upon a time", maxTokens: 12)), "text_output");

        using var call = Client.ModelStreamInfer();
        await call.RequestStream.WriteAsync(Request("Once upon a time", maxTokens: 12, streaming: true));
        var bad = Request("x", maxTokens: 2);
        bad.Inputs.Add(new ModelInferRequest.Types.InferInputTensor { Name = "beam_width", Datatype = "INT32", Shape = { 1 }, Contents = new InferTensorContents { IntContents = { 4 } } });
        await call.RequestStream.WriteAsync(bad);
        await call.RequestStream.WriteAsync(Request("Once upon a time", maxTokens: 3));
        await call.RequestStream.CompleteAsync();

        var responses = new List<ModelStreamInferResponse>();
        await foreach (var response in call.ResponseStream.ReadAllAsync())
        {
            responses.Add(response);
        }

        var first = responses.TakeWhile(r => r.ErrorMessage.Length == 0).ToList();
        // One response per piece of text the gateway read at once (usually several; one if the whole answer came in one
        // read), only the last one final and carrying the finish reason.
        var finalIndex = first.FindIndex(r => r.InferResponse.Parameters.ContainsKey("triton_final_response"));
        Assert.True(finalIndex >= 0, "the streamed request's last response is final");
        Assert.All(first.Take(finalIndex), r => Assert.DoesNotContain(r.InferResponse.Outputs, o => o.Name == "finish_reason"));
        Assert.Equal(whole, string.Concat(first.Take(finalIndex + 1).Select(r => Output(r.InferResponse, "text_output"))));
        Assert.Equal("length", Output(first[finalIndex].InferResponse, "finish_reason"));
        Assert.Equal(12, first[finalIndex].InferResponse.Parameters["completion_tokens"].Int64Param);

        var error = responses[finalIndex + 1];
        Assert.Contains("beam_width", error.ErrorMessage);
        var last = responses[finalIndex + 2];
        Assert.Empty(last.ErrorMessage);
        Assert.Equal(3, last.InferResponse.Parameters["completion_tokens"].Int64Param);
        Assert.Equal(finalIndex + 3, responses.Count);
    }

    [Theory]
    [InlineData("missing-text", StatusCode.InvalidArgument, "text_input")]
    [InlineData("unknown-input", StatusCode.InvalidArgument, "beam_width")]
    [InlineData("unknown-parameter", StatusCode.InvalidArgument, "presence")]
    [InlineData("streaming-unary", StatusCode.InvalidArgument, "ModelStreamInfer")]
    [InlineData("unknown-model", StatusCode.NotFound, "no-such-model")]
    [InlineData("bad-temperature", StatusCode.InvalidArgument, "temperature")]
    [InlineData("unknown-output", StatusCode.InvalidArgument, "logits")]
    public async Task BadRequests_AreRefused_NamingTheCause(string shape, StatusCode status, string named)
    {
        var request = Request("hello", maxTokens: 2);
        switch (shape)
        {
            case "missing-text":
                request.Inputs.RemoveAt(0);
                break;
            case "unknown-input":
                request.Inputs.Add(new ModelInferRequest.Types.InferInputTensor { Name = "beam_width", Datatype = "INT32", Shape = { 1 }, Contents = new InferTensorContents { IntContents = { 4 } } });
                break;
            case "unknown-parameter":
                request.Parameters["presence"] = new InferParameter { DoubleParam = 1 };
                break;
            case "streaming-unary":
                request.Inputs.Add(new ModelInferRequest.Types.InferInputTensor { Name = "streaming", Datatype = "BOOL", Shape = { 1 }, Contents = new InferTensorContents { BoolContents = { true } } });
                break;
            case "unknown-model":
                request.ModelName = "no-such-model";
                break;
            case "bad-temperature":
                request.Parameters["temperature"] = new InferParameter { DoubleParam = 9 };
                break;
            case "unknown-output":
                request.Outputs.Add(new ModelInferRequest.Types.InferRequestedOutputTensor { Name = "logits" });
                break;
        }

        var error = await Assert.ThrowsAsync<RpcException>(async () => await Client.ModelInferAsync(request));

        Assert.Equal(status, error.StatusCode);
        Assert.Contains(named, error.Status.Detail);
    }

    [Fact]
    public async Task TheGrpcPort_ServesOnlyGrpc_AndThePublicPortNoGrpc()
    {
        using var http2 = new HttpClient { DefaultRequestVersion = System.Net.HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using var models = await http2.GetAsync(new Uri(_cluster.Cluster.GrpcAddress!, "v1/models"));
        Assert.Equal(System.Net.HttpStatusCode.NotFound, models.StatusCode);

        using var publicChannel = GrpcChannel.ForAddress(_cluster.Address);
        var refused = await Assert.ThrowsAsync<RpcException>(async () => await new GRPCInferenceService.GRPCInferenceServiceClient(publicChannel).ServerLiveAsync(new ServerLiveRequest()));
        Assert.NotEqual(StatusCode.OK, refused.StatusCode);
    }

    [Fact]
    public async Task NodeGrpcClient_PassesItsChecks()
    {
        var dir = NodeClientTests.FindClientDir();
        Assert.True(Directory.Exists(Path.Combine(dir, "node_modules", "@grpc", "grpc-js")), $"@grpc/grpc-js is not installed in {dir}; the test command runs 'npm ci' there.");
        var start = new ProcessStartInfo("node", "kserve.mjs") { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["DYNAMO_GRPC_ADDRESS"] = $"{_cluster.Cluster.GrpcAddress!.Host}:{_cluster.Cluster.GrpcAddress.Port}";
        start.Environment["DYNAMO_MODEL"] = _cluster.Model;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);

        Assert.True(process.ExitCode == 0, $"node kserve.mjs failed ({process.ExitCode}):\n{await stdout}\n{await stderr}");
        Assert.Contains("\"ok\":true", await stdout);
    }

    private ModelInferRequest Request(string prompt, int maxTokens, bool streaming = false)
    {
        var request = new ModelInferRequest { ModelName = _cluster.Model, Id = "req-1" };
        request.Inputs.Add(new ModelInferRequest.Types.InferInputTensor
        {
            Name = "text_input",
            Datatype = "BYTES",
            Shape = { 1 },
            Contents = new InferTensorContents { BytesContents = { ByteString.CopyFromUtf8(prompt) } },
        });
        if (streaming)
        {
            request.Inputs.Add(new ModelInferRequest.Types.InferInputTensor { Name = "streaming", Datatype = "BOOL", Shape = { 1 }, Contents = new InferTensorContents { BoolContents = { true } } });
        }

        request.Parameters["max_tokens"] = new InferParameter { Int64Param = maxTokens };
        request.Parameters["temperature"] = new InferParameter { DoubleParam = 0 };
        return request;
    }

    private static string Output(ModelInferResponse response, string name)
    {
        var index = response.Outputs.Select(o => o.Name).ToList().IndexOf(name);
        Assert.True(index >= 0, $"no output '{name}'");
        var raw = response.RawOutputContents[index].Span;
        var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(raw);
        Assert.Equal(raw.Length - 4, length);
        return Encoding.UTF8.GetString(raw.Slice(4, length));
    }

    private static ByteString LengthPrefixed(string text)
    {
        var utf8 = Encoding.UTF8.GetBytes(text);
        var buffer = new byte[4 + utf8.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(buffer, (uint)utf8.Length);
        utf8.CopyTo(buffer, 4);
        return ByteString.CopyFrom(buffer);
    }
}
