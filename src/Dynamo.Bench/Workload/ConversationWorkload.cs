namespace Dynamo.Bench.Workload;

/// <summary>
/// Multi-turn sessions (<c>--workload conversation|agentic</c>) as a request sequence in arrival order. A session's
/// context is one token sequence: the system prompt (the same in every session), then the session's document if it
/// drew one (one of <see cref="SessionWorkloadOptions.Documents"/> shared documents, Zipf-popular), then its turns:
/// turn k sends the whole context so far plus its new input (a user message or a tool result) and generates its
/// output, which joins the context of turn k + 1.
/// </summary>
/// <remarks>
/// <para>
/// Prefix blocks: the context is cut into chunks of <see cref="PromptSynthesizer.TraceBlockTokens"/> tokens, and a
/// chunk's id is a hash of where its content comes from: a chunk that lies within the system prompt is the same in
/// every session; one that ends within the system prompt and document d is the same in every session that drew d; any
/// other chunk belongs to its session and is keyed by its index and by how many tokens it holds. So the next turn's
/// full chunks keep their ids, and the trailing partial chunk of a turn gets a new id once it grows (its content then
/// differs, as a Mooncake trace hashes the partial last block of a prompt): turn k + 1 starts with every block of turn
/// k's prompt except a partial last one. The assistant's output re-sent in the next turn is the workload's own tokens,
/// not what an engine generated, so an engine's cache of generated tokens never hits: the hit rates here count
/// prompt reuse only, and a partial last chunk's up to 511 tokens are a miss, as in Mooncake traces.
/// </para>
/// <para>
/// Timing (open loop, the same for a seed): sessions start at <see cref="SessionWorkloadOptions.Rate"/> per second;
/// turn k + 1 arrives at turn k's arrival + turn k's output tokens × <see cref="SessionWorkloadOptions.NominalItlMs"/>
/// (an estimate of its reply time; prefill and queueing are not included) + a think time. A server slower than the
/// estimate gets the next turn before the reply is done, as an open-loop trace would send it.
/// </para>
/// <para>
/// Each session's draws come from its own generator (seeded from the seed and the session's number), the document
/// lengths and session starts from two more: the first N requests are the same whether or not the run is cut at N.
/// Ids are in [2^51, 2^52): never a trace's, a synthetic prompt's (below 2^51) or a lengthened one's (2^52 up).
/// </para>
/// </remarks>
public static class ConversationWorkload
{
    private const long IdBase = 1L << 51;
    private const long IdMask = (1L << 51) - 1;
    private const long SystemOrigin = 1, DocumentOrigin = 2, SessionOrigin = 3;

    /// <summary>The requests, in arrival order.</summary>
    /// <exception cref="ArgumentException">The options are invalid (<see cref="SessionWorkloadOptions.FirstError"/>).</exception>
    public static IEnumerable<BenchRequest> Generate(SessionWorkloadOptions options) => Turns(options).Select(t => t.Request);

    /// <summary>The requests, in arrival order, with the session and turn each is.</summary>
    /// <exception cref="ArgumentException">The options are invalid (<see cref="SessionWorkloadOptions.FirstError"/>).</exception>
    public static IEnumerable<SessionTurn> Turns(SessionWorkloadOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.FirstError() is { } error)
        {
            throw new ArgumentException(error, nameof(options));
        }

        return GenerateCore(options);
    }

    /// <summary>How many requests <see cref="Generate"/> yields (null: unknown, never with sessions or requests given).</summary>
    public static int? CountRequests(SessionWorkloadOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Sessions is not { } sessions)
        {
            return options.Requests;
        }

        int[] documents = DocumentLengths(options);
        double[] popularity = ZipfCdf(options.Documents, options.DocumentZipf);
        long turns = 0;
        for (int i = 0; i < sessions && turns < (options.Requests ?? int.MaxValue); i++)
        {
            turns += Session.Draw(options, i, 0, documents, popularity).Turns.Count;
        }

        return (int)Math.Min(turns, options.Requests ?? int.MaxValue);
    }

    /// <summary>Document d's length (d from 0), as every session sees it.</summary>
    public static int[] DocumentLengths(SessionWorkloadOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var random = new Random(DerivedSeed(options.Seed, -1));
        return [.. Enumerable.Range(0, options.Documents).Select(_ => options.DocumentTokens.Sample(random))];
    }

    private static IEnumerable<SessionTurn> GenerateCore(SessionWorkloadOptions o)
    {
        int[] documents = DocumentLengths(o);
        double[] popularity = ZipfCdf(o.Documents, o.DocumentZipf);
        var starts = new Random(o.Seed);
        var pending = new PriorityQueue<Turn, (double Arrival, int Session, int Turn)>();
        double nextStart = 0;
        int started = 0, emitted = 0;
        while (o.Requests is not { } cap || emitted < cap)
        {
            bool moreSessions = o.Sessions is not { } max || started < max;
            if (pending.TryPeek(out Turn? turn, out var at) && (!moreSessions || at.Arrival <= nextStart))
            {
                pending.Dequeue();
                var request = new BenchRequest(emitted++, TimeSpan.FromSeconds(turn.ArrivalS), turn.PromptTokens, turn.OutputTokens, turn.Session.Blocks(turn.PromptTokens));
                yield return new SessionTurn(at.Session, at.Turn, turn.Session.Turns.Count, turn.Session.Document, request);
                continue;
            }

            if (!moreSessions)
            {
                yield break;
            }

            Session session = Session.Draw(o, started, nextStart, documents, popularity);
            for (int k = 0; k < session.Turns.Count; k++)
            {
                pending.Enqueue(session.Turns[k], (session.Turns[k].ArrivalS, started, k));
            }

            started++;
            nextStart += o.Arrival == ArrivalProcess.Constant ? 1.0 / o.Rate : -Math.Log(1.0 - starts.NextDouble()) / o.Rate;
        }
    }

    private static double[] ZipfCdf(int n, double s)
    {
        var cdf = new double[n];
        double sum = 0;
        for (int d = 0; d < n; d++)
        {
            sum += 1.0 / Math.Pow(d + 1, s);
            cdf[d] = sum;
        }

        for (int d = 0; d < n; d++)
        {
            cdf[d] /= sum;
        }

        return cdf;
    }

    private static int DerivedSeed(int seed, long stream) => (int)PromptSynthesizer.Mix(((ulong)(uint)seed << 32) ^ (ulong)stream ^ 0x5E55_1011);

    private static long Id(SessionWorkloadOptions o, long origin, long a, long b, long c)
    {
        ulong h = PromptSynthesizer.Mix((ulong)(uint)o.Seed ^ ((ulong)o.Kind << 40) ^ (ulong)(origin << 48));
        h = PromptSynthesizer.Mix(h ^ (ulong)a);
        h = PromptSynthesizer.Mix(h ^ (ulong)b);
        h = PromptSynthesizer.Mix(h ^ (ulong)c);
        return IdBase + (long)(h & IdMask);
    }

    private sealed record Turn(Session Session, double ArrivalS, int PromptTokens, int OutputTokens);

    private sealed class Session
    {
        private readonly SessionWorkloadOptions _o;
        private readonly int _index;
        private readonly int _shared; // tokens of the system prompt (and document) at the start of the context

        private Session(SessionWorkloadOptions o, int index, int document, int shared)
        {
            _o = o;
            _index = index;
            Document = document;
            _shared = shared;
        }

        /// <summary>The document this session carries, or -1.</summary>
        public int Document { get; }

        public List<Turn> Turns { get; } = [];

        public static Session Draw(SessionWorkloadOptions o, int index, double startS, int[] documents, double[] popularity)
        {
            var random = new Random(DerivedSeed(o.Seed, index));
            int turns = Math.Min(o.Turns.Sample(random), o.MaxTurns);
            int document = -1;
            if (documents.Length > 0 && random.NextDouble() < o.DocumentShare)
            {
                int d = Array.BinarySearch(popularity, random.NextDouble());
                document = Math.Min(d >= 0 ? d + 1 : ~d, documents.Length - 1);
            }

            var session = new Session(o, index, document, o.SystemPromptTokens + (document >= 0 ? documents[document] : 0));
            long context = session._shared;
            double arrival = startS;
            for (int k = 0; k < turns; k++)
            {
                long prompt = context + o.TurnTokens.Sample(random);
                int output = o.OutputTokens.Sample(random);
                int think = o.ThinkMs.Sample(random);
                if (prompt > int.MaxValue)
                {
                    break; // a context past 2^31 tokens: no engine takes it, and lengths are ints
                }

                session.Turns.Add(new Turn(session, arrival, (int)prompt, output));
                arrival += ((output * o.NominalItlMs) + think) / 1000.0;
                context = prompt + output;
            }

            return session;
        }

        /// <summary>The prefix block ids of this session's context cut at <paramref name="tokens"/>.</summary>
        public long[] Blocks(int tokens)
        {
            const int size = PromptSynthesizer.TraceBlockTokens;
            var ids = new long[(tokens + size - 1) / size];
            for (int b = 0; b < ids.Length; b++)
            {
                long end = Math.Min((long)(b + 1) * size, tokens);
                ids[b] = end <= _o.SystemPromptTokens ? Id(_o, SystemOrigin, b, 0, 0)
                    : end <= _shared ? Id(_o, DocumentOrigin, Document, b, 0)
                    : Id(_o, SessionOrigin, _index, b, end - ((long)b * size));
            }

            return ids;
        }
    }
}

/// <summary>One request of a <see cref="ConversationWorkload"/> and where it comes from.</summary>
/// <param name="Session">The session, numbered from 0 in order of start.</param>
/// <param name="Turn">The turn in its session, from 0.</param>
/// <param name="Turns">Turns the session has.</param>
/// <param name="Document">The shared document the session carries, or -1.</param>
/// <param name="Request">The request.</param>
public sealed record SessionTurn(int Session, int Turn, int Turns, int Document, BenchRequest Request);
