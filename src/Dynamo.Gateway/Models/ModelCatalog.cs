using System.Collections.Concurrent;
using Dynamo.Llm;

namespace Dynamo.Gateway.Models;

/// <summary>
/// The models the gateway can preprocess for: their tokenizer, chat template and context length, by served name.
/// A model is listed by <c>/v1/models</c> when at least one worker serving it is in discovery.
/// </summary>
public sealed class ModelCatalog
{
    private readonly ConcurrentDictionary<string, ModelCard> _cards = new(StringComparer.Ordinal);

    public void Add(ModelCard card)
    {
        ArgumentNullException.ThrowIfNull(card);
        _cards[card.Name] = card;
    }

    public bool TryGet(string name, out ModelCard card) => _cards.TryGetValue(name, out card!);

    public IReadOnlyCollection<string> Names => [.. _cards.Keys];
}
