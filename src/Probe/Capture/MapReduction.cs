namespace Probe.Capture;

/// <summary>
/// How a site's per-sample output becomes one row of unit values. Feature maps [N, C, ...] (convolutions, pools,
/// batch norms: channels first) have C units reduced over positions; sequence outputs [N, T, D] (a Linear or a
/// transformer block applied per token) have D units reduced over the T tokens.
/// </summary>
public enum MapReduction
{
    /// <summary>Mean over positions (or tokens): one column per unit (the default).</summary>
    Mean,
    /// <summary>Max over positions (or tokens): a unit is positive on a sample when any position is.</summary>
    Max,
    /// <summary>Every value is a column (C x H x W, or T x D, columns).</summary>
    Flatten,
    /// <summary>Sequence outputs only: the first token's values (a [CLS] token).</summary>
    First,
    /// <summary>Sequence outputs only: the last token's values.</summary>
    Last,
}
