using Dynamo.Contracts.Engine;

namespace Dynamo.Engine.Mocker;

/// <summary>A token produced by a <see cref="MockerStepper"/> step, with the request's id and the tag given at submission.</summary>
public readonly record struct StepOutput(string RequestId, EngineOutput Output, object? Tag);
