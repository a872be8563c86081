// The validated conversions: computed in double (ms2coef and coef2ms through expm1 and log1p, which do
// not cancel where 1 − exp(−z) and ln(1 − c) would) and rounded once.
#include "differential_dynamics/conversions.hpp"

#include <cmath>
#include <limits>
#include <sstream>
#include <string>

namespace dd {

namespace {
std::string got(double v) {
    std::ostringstream s;
    s.precision(17);
    s << " (got " << v << ")";
    return s.str();
}
void check_finite(double v, const char* name) {
    if (!std::isfinite(v)) throw argument_error(name, "must be finite" + got(v));
}
void check_positive(double v, const char* name) {
    check_finite(v, name);
    if (!(v > 0)) throw argument_error(name, "must be > 0" + got(v));
}
template <class T> T finite_result(double v, const char* name, const char* why) {
    if (!std::isfinite(v) || std::abs(v) > double(std::numeric_limits<T>::max()))
        throw argument_error(name, std::string(why));
    return T(v);
}

template <class T> T amp2db_checked(T x) {
    check_positive(double(x), "x");
    return T(20.0 * std::log10(double(x)));
}
template <class T> T db2amp_checked(T db) {
    check_finite(double(db), "db");
    return finite_result<T>(std::pow(10.0, double(db) / 20.0), "db", "is too large: 10^(db/20) overflows");
}
template <class T> T ms2coef_checked(T ms, T fs) {
    check_positive(double(ms), "ms");
    check_positive(double(fs), "fs");
    return T(-std::expm1(-rise_time_constant / (double(ms) * double(fs))));
}
template <class T> T coef2ms_checked(T coef, T fs) {
    check_finite(double(coef), "coef");
    if (!(coef > T(0) && coef < T(1))) throw argument_error("coef", "must be in (0, 1)" + got(double(coef)));
    check_positive(double(fs), "fs");
    return finite_result<T>(-rise_time_constant / (double(fs) * std::log1p(-double(coef))), "coef",
                            "is too close to 0: the time constant overflows");
}
}  // namespace

float amp2db(float x) { return amp2db_checked(x); }
double amp2db(double x) { return amp2db_checked(x); }
float db2amp(float db) { return db2amp_checked(db); }
double db2amp(double db) { return db2amp_checked(db); }
float ms2coef(float ms, float fs) { return ms2coef_checked(ms, fs); }
double ms2coef(double ms, double fs) { return ms2coef_checked(ms, fs); }
float coef2ms(float coef, float fs) { return coef2ms_checked(coef, fs); }
double coef2ms(double coef, double fs) { return coef2ms_checked(coef, fs); }

}  // namespace dd
