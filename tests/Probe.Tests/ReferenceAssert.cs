using Xunit;

namespace Probe.Tests;

/// <summary>Comparisons of Probe's values with a reference written by PyTorch or NumPy.</summary>
internal static class ReferenceAssert
{
    /// <summary>Same shape, and every value within <paramref name="tolerance"/> x max(1, |reference|) of the reference.</summary>
    public static void Close(Matrix reference, Matrix got, string what, double tolerance = 1e-4)
    {
        Assert.Equal((reference.Rows, reference.Cols), (got.Rows, got.Cols));
        for (int i = 0; i < reference.Data.Length; i++)
            Assert.True(Math.Abs(reference.Data[i] - got.Data[i]) <= tolerance * Math.Max(1, Math.Abs(reference.Data[i])),
                $"{what}[{i}]: reference {reference.Data[i]}, Probe {got.Data[i]}");
    }
}
