namespace Dynamo.Contracts.KvEvents;

/// <summary>Where an engine's block pool sends its events; the worker connects it to the event plane.</summary>
public interface IKvEventSink
{
    void Publish(KvEvent kvEvent);
}
