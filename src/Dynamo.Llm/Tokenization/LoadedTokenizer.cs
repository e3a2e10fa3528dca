using Microsoft.ML.Tokenizers;

namespace Dynamo.Llm.Tokenization;

/// <summary>A model folder's tokenizer (decoding, the library's API) and the encoder requests use (same ids, O(n log n), cancellable).</summary>
internal sealed record LoadedTokenizer(Tokenizer Tokenizer, TokenEncoder Encoder);
