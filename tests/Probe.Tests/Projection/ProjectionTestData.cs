using System.Text;
using System.Text.Json;

namespace Probe.Tests.Projection;

/// <summary>Test helper: a minimal float32 C-order NPY v1.0 reader and access to expected.json (Projection tests only).</summary>
internal static class ProjectionTestData
{
    public static string Fixture(string name) => ReferenceFixtures.Shared(name);

    public static Matrix ReadNpyFloat32(string name) => Probe.Data.Npy.ReadMatrix(Fixture(name));

    public static JsonElement Expected(params string[] path)
    {
        var e = ReferenceFixtures.Expected;
        foreach (var p in path) e = e.GetProperty(p);
        return e;
    }

    static Matrix? digits;
    /// <summary>The first n rows of digits_input.npy (1,797 x 64, pixels / 16).</summary>
    public static Matrix Digits(int n)
    {
        digits ??= ReadNpyFloat32("digits_input.npy");
        return digits.Slice(0, n);
    }
}
