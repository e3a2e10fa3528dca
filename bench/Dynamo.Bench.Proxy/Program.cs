using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Dynamo.Bench.Proxy;
using Dynamo.Cli.Configuration;
using Dynamo.Cli.Hosting;
using Dynamo.Runtime.Security;
using Microsoft.Extensions.Logging;

// P1: requests/s and latency of /v1/completions (token-id prompt, max_tokens 1, zero-delay mocker) through the
//     gateway versus nginx proxying the same body to the same worker, both driven by wrk, interleaved in one run.
// P1 open loop: p50/p99 latency at half of the gateway's P1 saturation rate (its wrk requests/s), requests sent on a
//     fixed schedule and timed from their due time (OpenLoopLoad), straight to the worker, through nginx and through
//     the gateway, interleaved; the gateway's and nginx's added p99 are theirs less the worker's.
// P2: streamed tokens/s through the gateway versus straight from the worker, same worker, same run.
// bdn: the BenchmarkDotNet classes (PipelineBenchmarks: allocations per P1 request); BenchmarkDotNet arguments follow.
if (args.Length > 0 && args[0] == "bdn")
{
    BenchmarkDotNet.Running.BenchmarkSwitcher.FromAssembly(typeof(Dynamo.Bench.Proxy.PipelineBenchmarks).Assembly).Run(args[1..]);
    return 0;
}

string[] known = ["--duration", "--connections", "--streams", "--rounds", "--rate", "--out", "--json"];
for (var i = 0; i < args.Length; i += 2)
{
    if (!known.Contains(args[i]) || i + 1 >= args.Length)
    {
        Console.Error.WriteLine($"'{args[i]}': expected --duration S, --connections N, --streams N, --rounds N, --rate RPS, --out DIR or --json FILE, each with a value.");
        return 1;
    }
}

if (Arg("--duration", 10) is not { } duration || Arg("--connections", 32) is not { } connections || Arg("--streams", 16) is not { } streams || Arg("--rounds", 3) is not { } rounds)
{
    return 1;
}

// --rate RPS: the open-loop rate; by default half of the gateway's P1 requests/s measured in the same run.
int? fixedRate = null;
if (args.Contains("--rate"))
{
    if (Arg("--rate", 1) is not { } rate)
    {
        return 1;
    }

    fixedRate = rate;
}

var outDir = ArgString("--out", Path.Combine("bench", "results"));

// --json FILE: the two ratios and their inputs, flat, for scripts and checks (p1_ratio, p2_ratio).
var jsonPath = args.Contains("--json") ? ArgString("--json", "") : null;

foreach (var tool in new[] { "wrk", "nginx" })
{
    if (!OnPath(tool))
    {
        Console.Error.WriteLine($"{tool} is not installed: apt-get install -y wrk nginx");
        return 1;
    }
}

var settings = ProxyCluster.Settings();
// Warnings and errors only (to stderr): a run that fails says why (a worker the gateway gave up on logs its reason).
using var loggerFactory = LoggerFactory.Create(builder => builder
    .AddSimpleConsole(console => console.SingleLine = true)
    .AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace)
    .SetMinimumLevel(LogLevel.Warning));
await using var cluster = await EmbeddedCluster.StartAsync(settings, loggerFactory);
var worker = cluster.Workers[0].Address;
var gateway = cluster.Address;
var nginxPort = FreePort();

// The worker answers only requests carrying the cluster credential. The gateway signs each request; nginx sends one
// credential minted now for POST /v1/completions, valid for ClusterSecret.MaxClockSkew (5 min, longer than P1 runs).
var nginxCredential = cluster.ClusterSecret.CreateHttpCredential("POST", "/v1/completions", DateTimeOffset.UtcNow);
var prefix = Directory.CreateTempSubdirectory("dynamo-bench-nginx-").FullName;
File.WriteAllText(Path.Combine(prefix, "nginx.conf"), $$"""
    worker_processes 1;
    daemon off;
    pid {{prefix}}/nginx.pid;
    error_log {{prefix}}/error.log warn;
    events { worker_connections 4096; }
    http {
      access_log off;
      upstream worker { server {{worker.Host}}:{{worker.Port}}; keepalive 128; keepalive_requests 1000000; }
      server {
        listen 127.0.0.1:{{nginxPort}};
        keepalive_requests 1000000;
        location / {
          proxy_pass http://worker;
          proxy_http_version 1.1;
          proxy_set_header Connection "";
          proxy_set_header {{ClusterSecret.HttpHeader}} "{{nginxCredential}}";
          proxy_buffering off;
        }
      }
    }
    """);
// Its output redirected: a worker process left holding this process's stdout would keep a pipe reading it open.
using var nginx = Process.Start(new ProcessStartInfo("nginx", $"-p {prefix} -c {prefix}/nginx.conf") { RedirectStandardError = true, RedirectStandardOutput = true })!;
var nginxUrl = new Uri($"http://127.0.0.1:{nginxPort}/");
await WaitForPortAsync(nginxPort);

var body = $"{{\"model\":\"{cluster.ModelName}\",\"prompt\":[464,3139,286,4881,318,6342,13,383],\"max_tokens\":1}}";
var script = Path.Combine(prefix, "post.lua");
File.WriteAllText(script, $"wrk.method = \"POST\"\nwrk.body = '{body}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n");

try
{
    return await MeasureAsync();
}
catch (BenchFailure failure)
{
    Console.Error.WriteLine($"benchmark failed: {failure.Message}");
    return 1;
}
finally
{
    // The whole tree: killing the master alone orphaned its worker process, which kept running after the benchmark.
    nginx.Kill(entireProcessTree: true);
    await nginx.WaitForExitAsync();
    // Its config, script and logs: left behind, every run added a folder to the temporary directory.
    Directory.Delete(prefix, recursive: true);
}

async Task<int> MeasureAsync()
{
    // Sanity: both paths answer the request the benchmark sends.
    using (var http = new HttpClient())
    {
        foreach (var target in new[] { gateway, nginxUrl })
        {
            using var response = await http.PostAsync(new Uri(target, "v1/completions"), new StringContent(body, Encoding.UTF8, "application/json"));
            if (!response.IsSuccessStatusCode)
            {
                throw new BenchFailure($"{target} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            }
        }
    }

    Console.WriteLine($"P1: wrk -t1 -c{connections} -d{duration}s, {rounds} interleaved rounds, worker {worker}");
    await RunWrkAsync(gateway, 3, script, connections);
    await RunWrkAsync(nginxUrl, 3, script, connections);
    var p1 = new Dictionary<string, List<WrkResult>> { ["gateway"] = [], ["nginx"] = [] };
    for (var round = 0; round < rounds; round++)
    {
        p1["gateway"].Add(await RunWrkAsync(gateway, duration, script, connections));
        p1["nginx"].Add(await RunWrkAsync(nginxUrl, duration, script, connections));
    }

    var gw = WrkResult.Median(p1["gateway"]);
    var ng = WrkResult.Median(p1["nginx"]);
    Console.WriteLine($"{"target",-10}{"req/s",12}{"p50 ms",10}{"p99 ms",10}");
    Console.WriteLine($"{"gateway",-10}{gw.RequestsPerSecond,12:F0}{gw.P50Ms,10:F2}{gw.P99Ms,10:F2}");
    Console.WriteLine($"{"nginx",-10}{ng.RequestsPerSecond,12:F0}{ng.P50Ms,10:F2}{ng.P99Ms,10:F2}");
    Console.WriteLine($"P1 ratio gateway/nginx requests/s = {gw.RequestsPerSecond / ng.RequestsPerSecond:F2} (goal >= 1.0)");

    var halfRate = fixedRate ?? (int)Math.Round(gw.RequestsPerSecond / 2);
    var openLoop = await OpenLoopAsync(halfRate);
    var direct = OpenLoopResult.Pool(openLoop["worker"]);
    var viaNginx = OpenLoopResult.Pool(openLoop["nginx"]);
    var viaGateway = OpenLoopResult.Pool(openLoop["gateway"]);
    Console.WriteLine($"{"target",-10}{"req/s",12}{"p50 ms",10}{"p99 ms",10}{"max ms",10}{"CPU us/req",12}");
    foreach (var (name, result) in new[] { ("worker", direct), ("nginx", viaNginx), ("gateway", viaGateway) })
    {
        Console.WriteLine($"{name,-10}{result.RequestsPerSecond,12:F0}{result.P50Ms,10:F2}{result.P99Ms,10:F2}{result.MaxMs,10:F2}{result.CpuMicrosecondsPerRequest,12:F0}");
    }

    Console.WriteLine($"p99 added at {halfRate} req/s: gateway {viaGateway.P99Ms - direct.P99Ms:F2} ms, nginx {viaNginx.P99Ms - direct.P99Ms:F2} ms (goal: gateway < 1 ms)");
    Console.WriteLine($"CPU added per request: gateway {viaGateway.CpuMicrosecondsPerRequest - direct.CpuMicrosecondsPerRequest:F0} us, nginx {viaNginx.CpuMicrosecondsPerRequest - direct.CpuMicrosecondsPerRequest:F0} us");

    Console.WriteLine($"P2: {streams} concurrent streams of 256 tokens, {duration}s per target, {rounds} interleaved rounds");
    var p2 = new Dictionary<string, List<double>> { ["gateway"] = [], ["worker"] = [] };
    await StreamTokensAsync(gateway, 2, streams);
    for (var round = 0; round < rounds; round++)
    {
        p2["gateway"].Add(await StreamTokensAsync(gateway, duration, streams));
        p2["worker"].Add(await StreamTokensAsync(worker, duration, streams));
    }

    var gwTokens = Median(p2["gateway"]);
    var wkTokens = Median(p2["worker"]);
    Console.WriteLine($"{"target",-10}{"tokens/s",12}");
    Console.WriteLine($"{"gateway",-10}{gwTokens,12:F0}");
    Console.WriteLine($"{"worker",-10}{wkTokens,12:F0}");
    Console.WriteLine($"P2 ratio gateway/worker tokens/s = {gwTokens / wkTokens:F2} (goal >= 0.8)");

    Directory.CreateDirectory(outDir);
    var report = new
    {
        date = DateTimeOffset.UtcNow,
        machine = new { Environment.ProcessorCount, os = Environment.OSVersion.ToString() },
        p1 = new { connections, duration, rounds, gateway = p1["gateway"], nginx = p1["nginx"], ratio = gw.RequestsPerSecond / ng.RequestsPerSecond },
        openLoop = new
        {
            rate = halfRate, connections, duration, rounds,
            worker = openLoop["worker"], nginx = openLoop["nginx"], gateway = openLoop["gateway"],
            pooled = new { worker = direct, nginx = viaNginx, gateway = viaGateway },
            gatewayP99AddedMs = viaGateway.P99Ms - direct.P99Ms,
            nginxP99AddedMs = viaNginx.P99Ms - direct.P99Ms,
        },
        p2 = new { streams, duration, rounds, gateway = p2["gateway"], worker = p2["worker"], ratio = gwTokens / wkTokens },
    };
    var path = Path.Combine(outDir, "proxy.json");
    File.WriteAllText(path, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
    Console.WriteLine($"Wrote {path}");
    if (jsonPath is not null)
    {
        var flat = new Dictionary<string, object>
        {
            ["date"] = report.date,
            ["processor_count"] = Environment.ProcessorCount,
            ["p1_ratio"] = gw.RequestsPerSecond / ng.RequestsPerSecond,
            ["p1_gateway_requests_per_second"] = gw.RequestsPerSecond,
            ["p1_nginx_requests_per_second"] = ng.RequestsPerSecond,
            ["p1_gateway_p50_ms"] = gw.P50Ms,
            ["p1_gateway_p99_ms"] = gw.P99Ms,
            ["p1_nginx_p50_ms"] = ng.P50Ms,
            ["p1_nginx_p99_ms"] = ng.P99Ms,
            ["p1_rounds_gateway_requests_per_second"] = p1["gateway"].Select(r => r.RequestsPerSecond).ToArray(),
            ["p1_rounds_nginx_requests_per_second"] = p1["nginx"].Select(r => r.RequestsPerSecond).ToArray(),
            ["p1_connections"] = connections,
            ["half_rate_rps"] = halfRate,
            ["open_loop_rate_source"] = fixedRate is null ? "half of p1_gateway_requests_per_second" : "--rate",
            ["gateway_p99_added_ms"] = viaGateway.P99Ms - direct.P99Ms,
            ["nginx_p99_added_ms"] = viaNginx.P99Ms - direct.P99Ms,
            ["gateway_p50_added_ms"] = viaGateway.P50Ms - direct.P50Ms,
            ["nginx_p50_added_ms"] = viaNginx.P50Ms - direct.P50Ms,
            ["open_loop_worker_p50_ms"] = direct.P50Ms,
            ["open_loop_worker_p99_ms"] = direct.P99Ms,
            ["open_loop_nginx_p50_ms"] = viaNginx.P50Ms,
            ["open_loop_nginx_p99_ms"] = viaNginx.P99Ms,
            ["open_loop_gateway_p50_ms"] = viaGateway.P50Ms,
            ["open_loop_gateway_p99_ms"] = viaGateway.P99Ms,
            ["gateway_cpu_us_per_request"] = viaGateway.CpuMicrosecondsPerRequest - direct.CpuMicrosecondsPerRequest,
            ["nginx_cpu_us_per_request"] = viaNginx.CpuMicrosecondsPerRequest - direct.CpuMicrosecondsPerRequest,
            ["open_loop_worker_cpu_us_per_request"] = direct.CpuMicrosecondsPerRequest,
            ["open_loop_nginx_cpu_us_per_request"] = viaNginx.CpuMicrosecondsPerRequest,
            ["open_loop_gateway_cpu_us_per_request"] = viaGateway.CpuMicrosecondsPerRequest,
            ["open_loop_worker_requests_per_second"] = direct.RequestsPerSecond,
            ["open_loop_nginx_requests_per_second"] = viaNginx.RequestsPerSecond,
            ["open_loop_gateway_requests_per_second"] = viaGateway.RequestsPerSecond,
            ["open_loop_rounds_worker_p99_ms"] = openLoop["worker"].Select(r => r.P99Ms).ToArray(),
            ["open_loop_rounds_nginx_p99_ms"] = openLoop["nginx"].Select(r => r.P99Ms).ToArray(),
            ["open_loop_rounds_gateway_p99_ms"] = openLoop["gateway"].Select(r => r.P99Ms).ToArray(),
            ["p2_ratio"] = gwTokens / wkTokens,
            ["p2_gateway_tokens_per_second"] = gwTokens,
            ["p2_worker_tokens_per_second"] = wkTokens,
            ["p2_rounds_gateway_tokens_per_second"] = p2["gateway"].ToArray(),
            ["p2_rounds_worker_tokens_per_second"] = p2["worker"].ToArray(),
            ["p2_streams"] = streams,
            ["duration_seconds"] = duration,
            ["rounds"] = rounds,
        };
        var directory = Path.GetDirectoryName(Path.GetFullPath(jsonPath));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }

        File.WriteAllText(jsonPath, JsonSerializer.Serialize(flat, new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"Wrote {jsonPath}");
    }

    return 0;
}

// The same rate, duration and connection count against each target, rounds interleaved (the order rotating each round
// so that no target always runs right after the gateway's garbage or the worker's warm caches); latencies pooled.
async Task<Dictionary<string, List<OpenLoopResult>>> OpenLoopAsync(int rate)
{
    Console.WriteLine($"P1 open loop: {rate} req/s ({(fixedRate is null ? "half the gateway's P1 requests/s" : "--rate")}), {connections} connections, {duration}s per target, {rounds} interleaved rounds, latency from each request's due time");
    var path = "/v1/completions";
    // The worker answers only requests with the cluster credential: minted now, valid ClusterSecret.MaxClockSkew.
    var credential = cluster.ClusterSecret.CreateHttpCredential("POST", path, DateTimeOffset.UtcNow);
    var targets = new (string Name, Uri Address, byte[] Request)[]
    {
        ("worker", worker, OpenLoopLoad.Request(worker, path, body, (ClusterSecret.HttpHeader, credential))),
        ("nginx", nginxUrl, OpenLoopLoad.Request(nginxUrl, path, body)),
        ("gateway", gateway, OpenLoopLoad.Request(gateway, path, body)),
    };
    var results = targets.ToDictionary(t => t.Name, _ => new List<OpenLoopResult>());
    foreach (var target in targets)
    {
        await OpenLoopLoad.RunAsync(EndPoint(target.Address), target.Request, rate, TimeSpan.FromSeconds(1), connections);
    }

    for (var round = 0; round < rounds; round++)
    {
        for (var i = 0; i < targets.Length; i++)
        {
            var target = targets[(round + i) % targets.Length];
            var cpu = CpuSeconds();
            var result = await OpenLoopLoad.RunAsync(EndPoint(target.Address), target.Request, rate, TimeSpan.FromSeconds(duration), connections);
            results[target.Name].Add(result with { CpuSeconds = CpuSeconds() - cpu });
        }
    }

    return results;
}

// CPU time of this process (generator, gateway, worker) and of nginx's processes (master and its worker).
double CpuSeconds()
{
    using var self = Process.GetCurrentProcess();
    var seconds = self.TotalProcessorTime.TotalSeconds;
    var pids = new List<int> { nginx.Id };
    var children = $"/proc/{nginx.Id}/task/{nginx.Id}/children";
    if (File.Exists(children))
    {
        pids.AddRange(File.ReadAllText(children).Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse));
    }

    foreach (var pid in pids)
    {
        // /proc/PID/stat: utime and stime are fields 14 and 15, in clock ticks (USER_HZ, 100 on Linux); the command
        // name (field 2) is in parentheses and may hold spaces, so count from the closing one.
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        seconds += (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
    }

    return seconds;
}

static IPEndPoint EndPoint(Uri address) => new(IPAddress.Parse(address.Host), address.Port);

async Task<WrkResult> RunWrkAsync(Uri target, int seconds, string luaScript, int conns)
{
    var start = new ProcessStartInfo("wrk", $"-t1 -c{conns} -d{seconds}s --latency -s {luaScript} {new Uri(target, "v1/completions")}")
    {
        RedirectStandardOutput = true,
    };
    using var wrk = Process.Start(start)!;
    var output = await wrk.StandardOutput.ReadToEndAsync();
    await wrk.WaitForExitAsync();
    if (wrk.ExitCode != 0)
    {
        throw new BenchFailure($"wrk against {target} exited with code {wrk.ExitCode}:\n{output}");
    }

    // wrk counts every response in Requests/sec, errors included: a run with any is not a measurement of the path.
    var result = WrkResult.Parse(output);
    if (result.Non2xx > 0 || result.ConnectErrors > 0 || result.TimeoutErrors > 0)
    {
        throw new BenchFailure($"{target}: {result.Non2xx} non-2xx responses, {result.ConnectErrors} connect errors, {result.TimeoutErrors} timeouts in {seconds} s:\n{output}");
    }

    return result;
}

async Task<double> StreamTokensAsync(Uri target, int seconds, int concurrency)
{
    var sockets = new SocketsHttpHandler { MaxConnectionsPerServer = 1024 };
    using var http = new HttpClient(target == worker ? new ClusterCredentialHandler(cluster.ClusterSecret, sockets) : sockets) { BaseAddress = target };
    var request = $"{{\"model\":\"{cluster.ModelName}\",\"prompt\":[464,3139,286,4881,318],\"max_tokens\":256,\"ignore_eos\":true,\"stream\":true}}";
    using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
    long tokens = 0;
    var clock = Stopwatch.StartNew();
    var workers = Enumerable.Range(0, concurrency).Select(async _ =>
    {
        while (!stop.IsCancellationRequested)
        {
            using var response = await http.PostAsync("v1/completions", new StringContent(request, Encoding.UTF8, "application/json"));
            if (!response.IsSuccessStatusCode)
            {
                throw new BenchFailure($"{target} answered a stream with HTTP {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            }

            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            var done = false;
            while (await reader.ReadLineAsync() is { } line)
            {
                if (line.StartsWith("data: {\"error\"", StringComparison.Ordinal))
                {
                    throw new BenchFailure($"{target} ended a stream with an error: {line}");
                }

                if (line.StartsWith("data: {", StringComparison.Ordinal) && !line.Contains("\"choices\":[]", StringComparison.Ordinal))
                {
                    Interlocked.Increment(ref tokens);
                }

                done |= line == "data: [DONE]";
            }

            if (!done)
            {
                throw new BenchFailure($"a stream from {target} ended without [DONE]");
            }
        }
    });
    await Task.WhenAll(workers);
    return tokens / clock.Elapsed.TotalSeconds;
}

static double Median(List<double> values)
{
    var sorted = values.Order().ToList();
    return sorted[sorted.Count / 2];
}

static bool OnPath(string tool) =>
    (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(dir => File.Exists(Path.Combine(dir, tool)))
    || File.Exists(Path.Combine("/usr/sbin", tool));

static int FreePort()
{
    using var listener = new TcpListener(IPAddress.Loopback, 0);
    listener.Start();
    return ((IPEndPoint)listener.LocalEndpoint).Port;
}

static async Task WaitForPortAsync(int port)
{
    var deadline = DateTime.UtcNow.AddSeconds(10);
    while (true)
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, port);
            return;
        }
        catch (SocketException) when (DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }
    }
}

int? Arg(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    if (i < 0 || i + 1 >= args.Length)
    {
        return fallback;
    }

    if (int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= 1)
    {
        return value;
    }

    Console.Error.WriteLine($"{name} '{args[i + 1]}': expected a whole number, 1 or more.");
    return null;
}

string ArgString(string name, string fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}

internal sealed partial record WrkResult(double RequestsPerSecond, double P50Ms, double P99Ms, long Non2xx, long ConnectErrors, long ReadErrors, long WriteErrors, long TimeoutErrors)
{
    public static WrkResult Parse(string output)
    {
        var rps = double.Parse(Rps().Match(output).Groups[1].Value, CultureInfo.InvariantCulture);
        var non2xx = Non2xxRegex().Match(output) is { Success: true } m ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        var errors = SocketErrors().Match(output);
        long Errors(int group) => errors.Success ? long.Parse(errors.Groups[group].Value, CultureInfo.InvariantCulture) : 0;
        return new WrkResult(rps, Percentile(output, "50%"), Percentile(output, "99%"), non2xx, Errors(1), Errors(2), Errors(3), Errors(4));
    }

    public static WrkResult Median(List<WrkResult> results) => results.OrderBy(r => r.RequestsPerSecond).ElementAt(results.Count / 2);

    private static double Percentile(string output, string label)
    {
        var match = Regex.Match(output, $@"^\s*{Regex.Escape(label)}\s+([\d.]+)(us|ms|s)\s*$", RegexOptions.Multiline);
        var value = double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        return match.Groups[2].Value switch { "us" => value / 1000, "s" => value * 1000, _ => value };
    }

    [GeneratedRegex(@"Requests/sec:\s+([\d.]+)")]
    private static partial Regex Rps();

    [GeneratedRegex(@"Non-2xx or 3xx responses:\s+(\d+)")]
    private static partial Regex Non2xxRegex();

    [GeneratedRegex(@"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")]
    private static partial Regex SocketErrors();
}

/// <summary>A step of the benchmark that did not measure what it claims (an error response, a broken stream).</summary>
internal sealed class BenchFailure(string message) : Exception(message);
