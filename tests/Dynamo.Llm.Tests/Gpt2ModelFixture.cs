using Dynamo.Llm.Tokenization;
using Microsoft.ML.Tokenizers;

namespace Dynamo.Llm.Tests;

/// <summary>One GPT-2 tokenizer folder (written by <see cref="TokenizerFiles.WriteGpt2"/>) shared by a test class.</summary>
public sealed class Gpt2ModelFixture : IDisposable
{
    private readonly TempDirectory _directory = new();

    public Gpt2ModelFixture()
    {
        TokenizerFiles.WriteGpt2(_directory.Path);
        Tiktoken = TiktokenTokenizer.CreateForModel("gpt2");
    }

    public string Directory => _directory.Path;

    public TiktokenTokenizer Tiktoken { get; }

    /// <summary>Text that exercises the pre-tokenizer and multi-byte characters.</summary>
    public static readonly string[] Corpus =
    [
        "Hello, world!",
        "The quick brown fox jumps over the lazy dog. It's 5 o'clock; we've won, they'll see, I'd say, you're right.",
        "  leading   spaces\t\ttabs\n\n\nnewlines  \r\n trailing   ",
        "naïve café Ünïcödé — “quotes” … ½ ¼ ©®™ ß ø å",
        "emoji 😀👍🏽 🇫🇷 👨‍👩‍👧‍👦 🧪🦀 ❤️",
        "中文测试，日本語のテキスト、한국어 텍스트。繁體中文！",
        "Ελληνικά, русский текст, עברית, العربية, हिन्दी",
        "1234567890 3.14159 -42 1e10 0x1F 1,000,000 2024-06-01T12:34:56Z",
        "def f(x):\n    return x ** 2  # comment\n\nclass A:\n\tpass\n",
        "for (int i = 0; i < n; i++) { sum += a[i] * b[i]; } // C-style\n/* block */",
        "<|endoftext|>after the special token<|endoftext|>",
        "a\u00a0b\u2003c\u200bd\ufeffe",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕄𝕒𝕥𝕙 \U0001F9EA\U0001FAE0",
        "https://example.com/path?query=1&b=2#frag <div class=\"x\">HTML &amp; entities</div>",
        "!!!???... ---___ ***",
        "",
        " ",
        "\n",
    ];

    public void Dispose() => _directory.Dispose();
}
