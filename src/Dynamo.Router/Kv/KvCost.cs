using Dynamo.Router.Load;

namespace Dynamo.Router.Kv;

/// <summary>
/// The design's router cost for one worker, in blocks:
/// <code>
/// prefill = (active prefill tokens + new prompt tokens) / block_size − overlap
/// decode  = active blocks + new request's blocks
/// cost    = prefill_load_scale · max(prefill, 0) + decode
/// </code>
/// Overlap lowers the cost by the prefill work it saves; the decode term grows with every request a worker already
/// carries, so a worker holding a popular prefix stops winning once its queue outweighs the blocks it would save
/// (the shared-system-prompt case, Dynamo #737).
/// </summary>
/// <remarks>
/// Active blocks are counted per request, a prefix shared by several requests once for each: attention reads every
/// sequence's whole context at every decode step, so that is what a worker's decode work grows with. Counting shared
/// blocks once would let the holder of a 64-block system prompt take 16 requests of 4 blocks each before any other
/// worker gets one. The price is fewer cache hits at the default scale; raising <c>PrefillLoadScale</c> buys them back
/// (bench/README.md, router quality figure).
/// </remarks>
public static class KvCost
{
    public static double Compute(int overlapBlocks, ActiveLoad load, int promptTokens, int blockSize, double prefillLoadScale)
    {
        var size = Math.Max(1, blockSize);
        var prefill = ((double)load.PrefillTokens + promptTokens) / size - overlapBlocks;
        var decode = (double)load.Blocks + ((promptTokens + size - 1) / size);
        return (prefillLoadScale * Math.Max(prefill, 0)) + decode;
    }
}
