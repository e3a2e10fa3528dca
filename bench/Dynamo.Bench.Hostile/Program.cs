using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dynamo.Bench.Hostile;
using Dynamo.Bench.Resilience;
using Dynamo.Engine.Model;

// R3: a real `dynamo serve` process (API key set, admin port split off) under --requests hostile requests of many
// families sent over raw sockets, while --valid-clients clients send ordinary requests. Pass: no response >= 500,
// every error body the application can shape in OpenAI's shape (Kestrel's own protocol-level refusals listed apart),
// family-specific statuses (admin paths 404, content types 415, broken chunks 400, key guesses 401/429), every valid
// request served, and the server still up at the end.
var requests = Arg("--requests", 10_000);
var concurrency = Arg("--concurrency", 16);
var validClients = Arg("--valid-clients", 4);
var seed = Arg("--seed", 0);

// Bounds the work one request may ask for (Dynamo:Gateway:MaxTokensCap), as an operator would: without a cap on
// prompts x n (MaxSequencesPerRequest, issue 12 item 4), one fan-out request holds every batch slot for minutes and
// the valid requests time out behind it. 0: no cap.
var maxTokensCap = Arg("--max-tokens-cap", 256);
var outDir = ArgString("--out", Path.Combine("bench", "results"));
const string Key = "sk-dynamo-r3-bench-0123456789";

var work = Directory.CreateTempSubdirectory("dynamo-bench-hostile-").FullName;
var model = Path.Combine(work, "tiny");
await ModelWriter.WriteAsync(model, ModelPreset.Tiny, seed: 0);
var port = FreePort();
var adminPort = FreePort();
var environment = new Dictionary<string, string>
{
    ["DYNAMO__GATEWAY__AUTH__KEYS__0__KEY"] = Key,
    ["DYNAMO__GATEWAY__ADMINPORT"] = adminPort.ToString(CultureInfo.InvariantCulture),
    ["DYNAMO__MOCKER__ZERODELAY"] = "true",
};
if (maxTokensCap > 0)
{
    environment["DYNAMO__GATEWAY__MAXTOKENSCAP"] = maxTokensCap.ToString(CultureInfo.InvariantCulture);
}

var dynamo = Path.Combine(AppContext.BaseDirectory, "dynamo.dll");
await using var serve = ChildProcess.Start("serve", "dotnet",
    [dynamo, "serve", "--engine", "mocker", "--mode", "agg", "--workers", "2", "--model", model, "--served-model-name", "tiny", "--port", port.ToString(CultureInfo.InvariantCulture)],
    environment);
var address = new Uri((await serve.WaitForLineAsync(@"is serving model 'tiny' at (\S+)v1", TimeSpan.FromSeconds(120))).Match.Groups[1].Value);
var server = new IPEndPoint(IPAddress.Loopback, address.Port);

// The server sees three clients: valid requests from 127.0.0.1, hostile payloads with the right key from 127.0.0.2,
// key guesses from 127.0.0.3 (throttled once they fail too often, which must not touch the other two).
var keyHolder = IPAddress.Parse("127.0.0.2");
var guesser = IPAddress.Parse("127.0.0.3");
var cases = new HostileRequests(address.Authority, Key, "tiny", seed).Generate(requests);
Console.WriteLine($"R3: {cases.Count} hostile requests ({concurrency} at a time) and {validClients} valid clients against dynamo serve at {address} " +
    $"(admin port {adminPort}, MaxTokensCap {(maxTokensCap > 0 ? maxTokensCap : "none")}, seed {seed}).");

using var done = new CancellationTokenSource();
var valid = new ValidLoad(address, Key);
var validTasks = Enumerable.Range(0, validClients).Select(i => valid.RunAsync(i, done.Token)).ToArray();

var outcomes = new (HostileCase Case, RawOutcome Outcome)[cases.Count];
var next = -1;
var clock = Stopwatch.StartNew();
await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
{
    int i;
    while ((i = Interlocked.Increment(ref next)) < cases.Count)
    {
        var c = cases[i];
        RawOutcome outcome;
        try
        {
            // Kestrel gives up on an incomplete request line or headers after 30 s (RequestHeadersTimeout).
            outcome = await RawClient.SendAsync(server, c.Sender == Sender.Guesser ? guesser : keyHolder, c, TimeSpan.FromSeconds(c.ProtocolLevel ? 40 : 60));
        }
        catch (SocketException ex)
        {
            outcome = new RawOutcome(null, [], [], $"socket error: {ex.SocketErrorCode}");
        }

        outcomes[i] = (c, outcome);
    }
})));
var hostileSeconds = clock.Elapsed.TotalSeconds;
await done.CancelAsync();
await Task.WhenAll(validTasks);

// The server must still be up and healthy after it all.
using var admin = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{adminPort}/"), Timeout = TimeSpan.FromSeconds(30) };
var healthy = !serve.HasExited && (await admin.GetAsync("health")).StatusCode == HttpStatusCode.OK;

var histogram = new SortedDictionary<string, int>(StringComparer.Ordinal);
var byKind = new SortedDictionary<string, SortedDictionary<string, int>>(StringComparer.Ordinal);
var serverErrors = new List<string>();
var kestrelServerErrors = new List<string>();
var unshaped = new List<string>();
var wrongStatus = new List<string>();
var kestrelEmpty = new SortedDictionary<string, int>(StringComparer.Ordinal);
var noAnswer = new SortedDictionary<string, int>(StringComparer.Ordinal);
foreach (var (c, o) in outcomes)
{
    var label = o.Status?.ToString(CultureInfo.InvariantCulture) ?? (c.Abort != AbortMode.None ? "client aborted" : "no answer");
    histogram[label] = histogram.GetValueOrDefault(label) + 1;
    var kind = byKind.TryGetValue(c.Kind, out var k) ? k : byKind[c.Kind] = new SortedDictionary<string, int>(StringComparer.Ordinal);
    kind[label] = kind.GetValueOrDefault(label) + 1;
    if (c.Abort != AbortMode.None)
    {
        continue;
    }

    if (o.Status is null)
    {
        // Only a request Kestrel refuses at the protocol level may go unanswered (it may close instead of answering).
        var key = $"{c.Kind}: {o.Problem}";
        noAnswer[key] = noAnswer.GetValueOrDefault(key) + 1;
        if (!c.ProtocolLevel)
        {
            serverErrors.Add($"{c.Kind}: no answer ({o.Problem}) to {Describe(c)}");
        }

        continue;
    }

    var status = o.Status.Value;
    var byKestrel = c.ProtocolLevel && o.Body.Length == 0;
    if (status >= 500)
    {
        (byKestrel ? kestrelServerErrors : serverErrors).Add($"{c.Kind}: {status} to {Describe(c)}: {Truncate(o.BodyText)}");
    }

    if (c.ExpectedStatuses is { Length: > 0 } expected && !expected.Contains(status))
    {
        wrongStatus.Add($"{c.Kind}: {status} (expected {string.Join(" or ", expected)}) to {Describe(c)}");
    }

    if (status >= 400 && !c.IsHead && !IsOpenAiError(o.Body))
    {
        if (byKestrel)
        {
            var key = $"{status} {c.Kind}";
            kestrelEmpty[key] = kestrelEmpty.GetValueOrDefault(key) + 1;
        }
        else
        {
            unshaped.Add($"{c.Kind}: {status} to {Describe(c)}: '{Truncate(o.BodyText)}'");
        }
    }
}

Console.WriteLine();
Console.WriteLine($"Hostile requests: {outcomes.Length} in {hostileSeconds:F1} s. Status histogram:");
Console.WriteLine("| status | requests |");
Console.WriteLine("| --- | --- |");
foreach (var (status, count) in histogram)
{
    Console.WriteLine($"| {status} | {count:N0} |");
}

Console.WriteLine();
Console.WriteLine("| family | requests | statuses |");
Console.WriteLine("| --- | --- | --- |");
foreach (var (kind, statuses) in byKind)
{
    Console.WriteLine($"| {kind} | {statuses.Values.Sum():N0} | {string.Join(", ", statuses.Select(s => $"{s.Key} × {s.Value}"))} |");
}

Console.WriteLine();
Console.WriteLine($"Responses >= 500 from the application (or no answer where one was due): {serverErrors.Count}");
serverErrors.Take(20).ToList().ForEach(e => Console.WriteLine("  " + e));
Console.WriteLine($"Error bodies not in OpenAI's shape where the application answers: {unshaped.Count}");
unshaped.Take(20).ToList().ForEach(e => Console.WriteLine("  " + e));
Console.WriteLine($"Statuses other than the family's required ones: {wrongStatus.Count}");
wrongStatus.Take(20).ToList().ForEach(e => Console.WriteLine("  " + e));
Console.WriteLine($"Responses >= 500 written by Kestrel before the application (505 to a request line whose version is not HTTP/1.0 or 1.1): {kestrelServerErrors.Count}");
Console.WriteLine($"Refused by Kestrel before the application, empty body (cannot be shaped): {kestrelEmpty.Values.Sum()}");
foreach (var (what, count) in kestrelEmpty)
{
    Console.WriteLine($"  {what}: {count}");
}

if (noAnswer.Count > 0)
{
    Console.WriteLine($"Closed without an answer (protocol-level refusals): {noAnswer.Values.Sum()}");
    foreach (var (what, count) in noAnswer)
    {
        Console.WriteLine($"  {what}: {count}");
    }
}

Console.WriteLine($"Valid requests: {valid.Succeeded:N0} served, {valid.Failures.Count} failed; server healthy afterwards: {healthy}.");
valid.Failures.Take(20).ToList().ForEach(e => Console.WriteLine("  " + e));

// What the server logged at warning and above, by message (first 200 characters of each line).
var serverLog = new SortedDictionary<string, int>(StringComparer.Ordinal);
var serverLogFull = new List<string>();
foreach (var (_, match) in serve.Lines(new System.Text.RegularExpressions.Regex(@"^.*\b(warn|fail|crit)\b.*$")))
{
    serverLogFull.Add(match.Value.Length > 4000 ? match.Value[..4000] : match.Value);
    var line = System.Text.RegularExpressions.Regex.Replace(match.Value, @"^\S+ ", "");
    line = line.Length > 200 ? line[..200] : line;
    serverLog[line] = serverLog.GetValueOrDefault(line) + 1;
}

Console.WriteLine($"Server log lines at warning and above: {serverLog.Values.Sum()}");
foreach (var (line, count) in serverLog.OrderByDescending(l => l.Value).Take(15))
{
    Console.WriteLine($"  {count} x {line}");
}

Directory.CreateDirectory(outDir);
await File.WriteAllTextAsync(Path.Combine(outDir, "hostile.json"), JsonSerializer.Serialize(new
{
    requests = outcomes.Length,
    seconds = hostileSeconds,
    histogram,
    families = byKind,
    server_errors = serverErrors,
    kestrel_server_errors = kestrelServerErrors.Count,
    unshaped,
    wrong_status = wrongStatus,
    kestrel_empty_bodies = kestrelEmpty,
    no_answer = noAnswer,
    valid_succeeded = valid.Succeeded,
    valid_failures = valid.Failures,
    healthy,
    server_log = serverLog,
    server_log_lines = serverLogFull.Take(50),
}, new JsonSerializerOptions { WriteIndented = true }));

var passed = serverErrors.Count == 0 && unshaped.Count == 0 && wrongStatus.Count == 0 && valid.Failures.IsEmpty && valid.Succeeded > 0 && healthy;
Console.WriteLine(passed ? "R3 PASSED" : "R3 FAILED");
return passed ? 0 : 6;

static bool IsOpenAiError(byte[] body)
{
    try
    {
        return JsonNode.Parse(body) is JsonObject { } root && root["error"] is JsonObject error
            && error["message"]?.GetValueKind() == JsonValueKind.String && error["type"]?.GetValueKind() == JsonValueKind.String
            && error.ContainsKey("param") && error.ContainsKey("code");
    }
    catch (JsonException)
    {
        return false;
    }
}

static string Describe(HostileCase c) => Truncate(Encoding.Latin1.GetString(c.Request, 0, Math.Min(c.Request.Length, 160)).ReplaceLineEndings("\\n"));

static string Truncate(string text) => text.Length <= 160 ? text : text[..160] + "...";

static int FreePort()
{
    using var listener = new TcpListener(IPAddress.Loopback, 0);
    listener.Start();
    return ((IPEndPoint)listener.LocalEndpoint).Port;
}

int Arg(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

string ArgString(string name, string fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}
