namespace Dynamo.Llm;

/// <summary>What <see cref="StopStringMatcher.Push"/> lets through.</summary>
/// <param name="Emit">Text safe to send now. On a match, the text before the stop string.</param>
/// <param name="Stopped">A stop string matched: generation must end, and the stop string is not part of the output.</param>
public readonly record struct StopMatch(string Emit, bool Stopped);
