using System.Buffers;
using System.Collections;
using System.Reflection;
using System.Text;
using System.Text.Json;

namespace Probe.Reporting;

/// <summary>
/// Writes the plain data Probe's commands print (anonymous objects, records, numbers, strings, enums, lists and
/// string-keyed dictionaries) as <see cref="JsonOutput"/> does through System.Text.Json, byte for byte, without the
/// serializer's reflection machinery: building System.Text.Json's metadata for the first object of a process cost
/// about 60 ms of CPU (type loading and JIT of its generic converters), a tenth of a whole `probe similarity` run.
/// </summary>
/// <remarks>
/// It follows System.Text.Json's rules for what it accepts (public readable instance properties, the most derived
/// type's first, named by the options' policy; a property's declared type decides how it is written, except for
/// <c>object</c>, where the value's type does; enums by name; dictionaries with keys in ordinal order as
/// <see cref="JsonOutput"/>'s converter writes them) and declines (returns false) anything else: attributes from
/// System.Text.Json.Serialization, types of the runtime other than numbers and strings, undefined or flags enum values,
/// non-finite numbers, hidden properties, depth beyond the options' limit. The caller then uses System.Text.Json, so
/// the output never depends on which path wrote it; Debug builds check that both give the same bytes.
/// </remarks>
internal static class PlainJsonWriter
{
    public static bool TryWrite(object? value, JsonSerializerOptions options, out string json)
    {
        json = "";
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions
        {
            Indented = options.WriteIndented, Encoder = options.Encoder, NewLine = options.NewLine,
            IndentCharacter = options.IndentCharacter, IndentSize = options.IndentSize, MaxDepth = options.MaxDepth, SkipValidation = true,
        }))
        {
            try
            {
                if (!TryValue(w, value, value?.GetType() ?? typeof(object), options, 0)) return false;
            }
            catch (TargetInvocationException)
            {
                // A property getter threw: System.Text.Json then reports the getter's own exception, not a wrapped one.
                return false;
            }
        }
        json = Encoding.UTF8.GetString(buffer.WrittenSpan);
        return true;
    }

    private static bool TryValue(Utf8JsonWriter w, object? v, Type declared, JsonSerializerOptions o, int depth)
    {
        if (depth > o.MaxDepth) return false;
        if (v is null) { w.WriteNullValue(); return true; }
        var t = declared == typeof(object) ? v.GetType() : Nullable.GetUnderlyingType(declared) ?? declared;
        switch (v)
        {
            case string s when t == typeof(string): w.WriteStringValue(s); return true;
            case bool b when t == typeof(bool): w.WriteBooleanValue(b); return true;
            case int i when t == typeof(int): w.WriteNumberValue(i); return true;
            case long l when t == typeof(long): w.WriteNumberValue(l); return true;
            case double d when t == typeof(double):
                if (!double.IsFinite(d)) return false;
                w.WriteNumberValue(d); return true;
            case float f when t == typeof(float):
                if (!float.IsFinite(f)) return false;
                w.WriteNumberValue(f); return true;
        }
        if (t.IsEnum)
        {
            if (v.GetType() != t || t.IsDefined(typeof(FlagsAttribute), false) || !Enum.IsDefined(t, v)) return false;
            w.WriteStringValue(Enum.GetName(t, v));
            return true;
        }
        if (t.IsPrimitive || t == typeof(decimal) || t.IsPointer || t.IsArray && t.GetArrayRank() != 1) return false;
        if (Declines(t)) return false;
        if (StringKeyedDictionary(t) is Type valueType)
        {
            if (v is not IEnumerable entries) return false;
            var pairs = new List<(string Key, object? Value)>();
            foreach (var e in entries)
            {
                if (e is null) return false;
                var et = e.GetType();
                pairs.Add(((string)et.GetProperty("Key")!.GetValue(e)!, et.GetProperty("Value")!.GetValue(e)));
            }
            pairs.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
            w.WriteStartObject();
            foreach (var (key, value) in pairs)
            {
                w.WritePropertyName(key);
                if (!TryValue(w, value, valueType, o, depth + 1)) return false;
            }
            w.WriteEndObject();
            return true;
        }
        if (typeof(IEnumerable).IsAssignableFrom(t))
        {
            if (typeof(IDictionary).IsAssignableFrom(t) || GenericInterface(t, typeof(IDictionary<,>)) != null || GenericInterface(t, typeof(IReadOnlyDictionary<,>)) != null)
                return false;
            var element = t.IsArray ? t.GetElementType()! : (GenericInterface(t, typeof(IEnumerable<>)) ?? (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(IEnumerable<>) ? t : null))?.GetGenericArguments()[0];
            if (element is null) return false;
            w.WriteStartArray();
            foreach (var item in (IEnumerable)v)
                if (!TryValue(w, item, element, o, depth + 1)) return false;
            w.WriteEndArray();
            return true;
        }
        if (t.IsInterface || t.IsAbstract && !t.IsSealed) return false;
        var props = Properties(t);
        if (props is null) return false;
        w.WriteStartObject();
        foreach (var p in props)
        {
            w.WritePropertyName(o.PropertyNamingPolicy?.ConvertName(p.Name) ?? p.Name);
            if (!TryValue(w, p.GetValue(v), p.PropertyType, o, depth + 1)) return false;
        }
        w.WriteEndObject();
        return true;
    }

    /// <summary>Types System.Text.Json writes its own way (dates, GUIDs, URIs, JSON trees, delegates...): anything from the runtime's or a System.* assembly that is not a collection.</summary>
    private static bool Declines(Type t)
    {
        if (t.GetCustomAttributes(true).Any(a => a.GetType().Namespace == "System.Text.Json.Serialization")) return true;
        if (typeof(Delegate).IsAssignableFrom(t) || typeof(MemberInfo).IsAssignableFrom(t)) return true;
        string? ns = t.Namespace;
        bool system = ns != null && (ns == "System" || ns.StartsWith("System.", StringComparison.Ordinal));
        return system && !typeof(IEnumerable).IsAssignableFrom(t) && !(t.IsGenericType && t.GetGenericTypeDefinition() == typeof(Nullable<>));
    }

    /// <summary>The value type of the dictionaries <see cref="JsonOutput"/>'s sorted-key converter takes (string keys), else null.</summary>
    private static Type? StringKeyedDictionary(Type t)
    {
        if (!t.IsGenericType) return null;
        var def = t.GetGenericTypeDefinition();
        if (def != typeof(Dictionary<,>) && def != typeof(IDictionary<,>) && def != typeof(IReadOnlyDictionary<,>) && def != typeof(SortedDictionary<,>)) return null;
        var args = t.GetGenericArguments();
        return args[0] == typeof(string) ? args[1] : null;
    }

    private static Type? GenericInterface(Type t, Type definition) =>
        t.GetInterfaces().FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == definition);

    private static readonly Dictionary<Type, PropertyInfo[]?> Cache = new();

    /// <summary>The properties System.Text.Json writes, in its order, or null when one of them needs its rules (attributes, hiding).</summary>
    private static PropertyInfo[]? Properties(Type t)
    {
        lock (Cache)
        {
            if (Cache.TryGetValue(t, out var cached)) return cached;
            var list = new List<PropertyInfo>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            bool ok = true;
            for (var c = t; c != null && c != typeof(object) && ok; c = c.BaseType)
                foreach (var p in c.GetProperties(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly))
                {
                    if (p.GetCustomAttributes(true).Any(a => a.GetType().Namespace == "System.Text.Json.Serialization")) { ok = false; break; }
                    if (p.GetIndexParameters().Length > 0) continue;
                    var get = p.GetMethod;
                    if (get is null || !get.IsPublic) continue;
                    // An override appears again on its base type: System.Text.Json keeps the most derived one.
                    if (get.GetBaseDefinition().DeclaringType != get.DeclaringType && names.Contains(p.Name)) continue;
                    if (!names.Add(p.Name)) { ok = false; break; }
                    if (p.PropertyType.IsByRef || p.PropertyType.IsPointer || p.PropertyType.IsByRefLike) { ok = false; break; }
                    list.Add(p);
                }
            var result = ok ? list.ToArray() : null;
            Cache[t] = result;
            return result;
        }
    }
}
