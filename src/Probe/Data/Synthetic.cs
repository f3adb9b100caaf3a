namespace Probe.Data;

/// <summary>
/// Seeded toy data sets for testing analyses on known structure. Every generator is deterministic for a given seed
/// (it uses <c>new Random(seed)</c> and Box-Muller normals), labels cycle 0, 1, ..., so classes are balanced, and
/// SampleShape is [dims]. <c>noise</c> is the standard deviation of the Gaussian noise added to each coordinate.
/// </summary>
public static class Synthetic
{
    /// <summary>The four XOR points (0,0)->0, (0,1)->1, (1,0)->1, (1,1)->0.</summary>
    public static Dataset Xor() =>
        new("xor", new Matrix(4, 2, [0, 0, 0, 1, 1, 0, 1, 1]), [0, 1, 1, 0], [2]);

    /// <summary>Noisy clouds around the corners of the unit square, labelled by the XOR of the corner's coordinates.</summary>
    public static Dataset XorClouds(int n = 400, double noise = 0.15, int seed = 0)
    {
        Check(n, noise, 1);
        var g = new Gaussian(seed);
        var m = new Matrix(n, 2);
        var y = new int[n];
        for (int i = 0; i < n; i++)
        {
            int a = i & 1, b = (i >> 1) & 1;
            m[i, 0] = (float)(a + noise * g.Next());
            m[i, 1] = (float)(b + noise * g.Next());
            y[i] = a ^ b;
        }
        return new Dataset("xor-clouds", m, y, [2]);
    }

    /// <summary>Two Gaussian clouds in <paramref name="dims"/> dimensions, centred at -1 and +1 on every axis.</summary>
    public static Dataset Gaussians(int n = 400, double noise = 0.5, int seed = 0, int dims = 2)
    {
        Check(n, noise, dims);
        var g = new Gaussian(seed);
        var m = new Matrix(n, dims);
        var y = new int[n];
        for (int i = 0; i < n; i++)
        {
            y[i] = i % 2;
            double centre = y[i] == 0 ? -1 : 1;
            for (int j = 0; j < dims; j++) m[i, j] = (float)(centre + noise * g.Next());
        }
        return new Dataset("gaussians", m, y, [dims]);
    }

    /// <summary>Two concentric circles: label 0 on radius 1, label 1 on radius <paramref name="factor"/>.</summary>
    public static Dataset Circles(int n = 400, double noise = 0.05, int seed = 0, double factor = 0.5)
    {
        Check(n, noise, 1);
        if (!(factor > 0 && factor < 1)) throw new ProbeException($"Circles: the inner radius factor must be in (0, 1), got {factor}.");
        var g = new Gaussian(seed);
        var rng = g.Random;
        var m = new Matrix(n, 2);
        var y = new int[n];
        for (int i = 0; i < n; i++)
        {
            y[i] = i % 2;
            double r = y[i] == 0 ? 1 : factor;
            double t = 2 * Math.PI * rng.NextDouble();
            m[i, 0] = (float)(r * Math.Cos(t) + noise * g.Next());
            m[i, 1] = (float)(r * Math.Sin(t) + noise * g.Next());
        }
        return new Dataset("circles", m, y, [2]);
    }

    /// <summary>Two interleaved spirals of 1.75 turns each (radius up to 1), the second rotated by half a turn.</summary>
    public static Dataset Spirals(int n = 400, double noise = 0.05, int seed = 0)
    {
        Check(n, noise, 1);
        var g = new Gaussian(seed);
        var rng = g.Random;
        var m = new Matrix(n, 2);
        var y = new int[n];
        const double turns = 1.75;
        for (int i = 0; i < n; i++)
        {
            y[i] = i % 2;
            double t = Math.Sqrt(rng.NextDouble()); // uniform density along the area swept
            double r = 0.05 + 0.95 * t;
            double angle = 2 * Math.PI * turns * t + Math.PI * y[i];
            m[i, 0] = (float)(r * Math.Cos(angle) + noise * g.Next());
            m[i, 1] = (float)(r * Math.Sin(angle) + noise * g.Next());
        }
        return new Dataset("spirals", m, y, [2]);
    }

    /// <summary><paramref name="classes"/> Gaussian blobs in <paramref name="dims"/> dimensions; centres uniform in [-10, 10]^dims.</summary>
    public static Dataset Blobs(int n = 600, int classes = 3, int dims = 2, double noise = 1.0, int seed = 0)
    {
        Check(n, noise, dims);
        if (classes < 1) throw new ProbeException($"Blobs: the number of classes must be at least 1, got {classes}.");
        var g = new Gaussian(seed);
        var rng = g.Random;
        var centres = new double[classes, dims];
        for (int c = 0; c < classes; c++)
            for (int j = 0; j < dims; j++) centres[c, j] = -10 + 20 * rng.NextDouble();
        var m = new Matrix(n, dims);
        var y = new int[n];
        for (int i = 0; i < n; i++)
        {
            int c = y[i] = i % classes;
            for (int j = 0; j < dims; j++) m[i, j] = (float)(centres[c, j] + noise * g.Next());
        }
        return new Dataset("blobs", m, y, [dims]);
    }

    static void Check(int n, double noise, int dims)
    {
        if (n < 1) throw new ProbeException($"A synthetic data set needs at least 1 sample, got n = {n}.");
        if (n > 50_000_000) throw new ProbeException($"A synthetic data set of {n} samples is too large (at most 50,000,000).");
        if (!(noise >= 0) || double.IsInfinity(noise)) throw new ProbeException($"Noise must be a finite number of 0 or more, got {noise}.");
        if (dims < 1 || (long)n * dims > Array.MaxLength) throw new ProbeException($"A synthetic data set needs 1 or more dimensions and at most {Array.MaxLength} values, got {n} x {dims}.");
    }

    /// <summary>Standard normal numbers by the Box-Muller transform over a seeded <see cref="System.Random"/>.</summary>
    sealed class Gaussian(int seed)
    {
        public Random Random { get; } = new(seed);
        double? _spare;

        public double Next()
        {
            if (_spare is double s) { _spare = null; return s; }
            double u1 = 1.0 - Random.NextDouble(); // (0, 1]
            double u2 = Random.NextDouble();
            double r = Math.Sqrt(-2.0 * Math.Log(u1));
            _spare = r * Math.Sin(2 * Math.PI * u2);
            return r * Math.Cos(2 * Math.PI * u2);
        }
    }
}
