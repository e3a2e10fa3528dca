namespace Dynamo.DevCluster.Store;

/// <summary>
/// Work the store runs with garbage collection, under its lock, until nothing changes: what a real cluster's
/// controller managers do for deletion (emptying a terminating CustomResourceDefinition, for one).
/// </summary>
internal interface IStoreController
{
    /// <summary>One pass; true when it changed anything.</summary>
    bool Reconcile();
}
