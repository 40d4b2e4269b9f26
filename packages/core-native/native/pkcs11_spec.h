// The few PKCS#11 v2.40 types and constants pkcs11.cc uses, written from the OASIS
// specification (PKCS #11 Cryptographic Token Interface Base Specification Version 2.40
// and Current Mechanisms Specification Version 2.40, with the v2.40 errata header), not
// copied from any header. Only what strongroom calls is here.
//
// Platform rules (base spec, section 2): CK_ULONG is at least 32 bits; on Linux every
// module is built with `unsigned long` (64 bits on LP64), default structure alignment (no
// packing) and the C calling convention. CK_FUNCTION_LIST is a CK_VERSION followed by the
// function pointers in the order of the specification's function list: the order below
// must not change, and entries strongroom never calls keep their places as opaque slots.
#pragma once

#include <cstdint>

namespace strongroom {
namespace p11 {

using CK_BYTE = unsigned char;
using CK_ULONG = unsigned long;
using CK_RV = CK_ULONG;
using CK_FLAGS = CK_ULONG;
using CK_SLOT_ID = CK_ULONG;
using CK_SESSION_HANDLE = CK_ULONG;
using CK_OBJECT_HANDLE = CK_ULONG;
using CK_OBJECT_CLASS = CK_ULONG;
using CK_KEY_TYPE = CK_ULONG;
using CK_ATTRIBUTE_TYPE = CK_ULONG;
using CK_MECHANISM_TYPE = CK_ULONG;
using CK_USER_TYPE = CK_ULONG;
using CK_RSA_PKCS_MGF_TYPE = CK_ULONG;
using CK_RSA_PKCS_OAEP_SOURCE_TYPE = CK_ULONG;
using CK_BBOOL = CK_BYTE;

constexpr CK_ULONG CK_UNAVAILABLE_INFORMATION = ~0UL;
constexpr CK_BBOOL CK_TRUE = 1;

struct CK_VERSION {
  CK_BYTE major;
  CK_BYTE minor;
};

struct CK_ATTRIBUTE {
  CK_ATTRIBUTE_TYPE type;
  void* pValue;
  CK_ULONG ulValueLen;
};

struct CK_MECHANISM {
  CK_MECHANISM_TYPE mechanism;
  void* pParameter;
  CK_ULONG ulParameterLen;
};

// Current Mechanisms 2.40, section 2.12.3 (with the errata header's ulIvBits, which every
// module built from the OASIS headers expects; the value is the IV length in bits).
struct CK_GCM_PARAMS {
  CK_BYTE* pIv;
  CK_ULONG ulIvLen;
  CK_ULONG ulIvBits;
  CK_BYTE* pAAD;
  CK_ULONG ulAADLen;
  CK_ULONG ulTagBits;
};

// Current Mechanisms 2.40, section 2.1.8.
struct CK_RSA_PKCS_OAEP_PARAMS {
  CK_MECHANISM_TYPE hashAlg;
  CK_RSA_PKCS_MGF_TYPE mgf;
  CK_RSA_PKCS_OAEP_SOURCE_TYPE source;
  void* pSourceData;
  CK_ULONG ulSourceDataLen;
};

// Base 2.40, section 3.2: the token's label is 32 bytes of UTF-8 padded with spaces.
struct CK_TOKEN_INFO {
  CK_BYTE label[32];
  CK_BYTE manufacturerID[32];
  CK_BYTE model[16];
  CK_BYTE serialNumber[16];
  CK_FLAGS flags;
  CK_ULONG ulMaxSessionCount;
  CK_ULONG ulSessionCount;
  CK_ULONG ulMaxRwSessionCount;
  CK_ULONG ulRwSessionCount;
  CK_ULONG ulMaxPinLen;
  CK_ULONG ulMinPinLen;
  CK_ULONG ulTotalPublicMemory;
  CK_ULONG ulFreePublicMemory;
  CK_ULONG ulTotalPrivateMemory;
  CK_ULONG ulFreePrivateMemory;
  CK_VERSION hardwareVersion;
  CK_VERSION firmwareVersion;
  CK_BYTE utcTime[16];
};

// Base 2.40, section 5.4 (C_Initialize's pInitArgs). No mutex callbacks: CKF_OS_LOCKING_OK.
struct CK_C_INITIALIZE_ARGS {
  void* CreateMutex;
  void* DestroyMutex;
  void* LockMutex;
  void* UnlockMutex;
  CK_FLAGS flags;
  void* pReserved;
};

struct CK_FUNCTION_LIST;
using CK_C_GetFunctionList = CK_RV (*)(CK_FUNCTION_LIST** ppFunctionList);
using Unused = void (*)();

// Base 2.40, section 3.6: the function list, in the specification's order.
struct CK_FUNCTION_LIST {
  CK_VERSION version;
  CK_RV (*C_Initialize)(void* pInitArgs);
  CK_RV (*C_Finalize)(void* pReserved);
  Unused C_GetInfo;
  CK_C_GetFunctionList C_GetFunctionList;
  CK_RV (*C_GetSlotList)(CK_BBOOL tokenPresent, CK_SLOT_ID* pSlotList, CK_ULONG* pulCount);
  Unused C_GetSlotInfo;
  CK_RV (*C_GetTokenInfo)(CK_SLOT_ID slotID, CK_TOKEN_INFO* pInfo);
  Unused C_GetMechanismList;
  Unused C_GetMechanismInfo;
  Unused C_InitToken;
  Unused C_InitPIN;
  Unused C_SetPIN;
  CK_RV (*C_OpenSession)(CK_SLOT_ID slotID, CK_FLAGS flags, void* pApplication, void* Notify,
                         CK_SESSION_HANDLE* phSession);
  CK_RV (*C_CloseSession)(CK_SESSION_HANDLE hSession);
  Unused C_CloseAllSessions;
  Unused C_GetSessionInfo;
  Unused C_GetOperationState;
  Unused C_SetOperationState;
  CK_RV (*C_Login)(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_BYTE* pPin, CK_ULONG ulPinLen);
  CK_RV (*C_Logout)(CK_SESSION_HANDLE hSession);
  Unused C_CreateObject;
  Unused C_CopyObject;
  Unused C_DestroyObject;
  Unused C_GetObjectSize;
  Unused C_GetAttributeValue;
  Unused C_SetAttributeValue;
  CK_RV (*C_FindObjectsInit)(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE* pTemplate, CK_ULONG ulCount);
  CK_RV (*C_FindObjects)(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE* phObject, CK_ULONG ulMaxObjectCount,
                         CK_ULONG* pulObjectCount);
  CK_RV (*C_FindObjectsFinal)(CK_SESSION_HANDLE hSession);
  Unused C_EncryptInit;
  Unused C_Encrypt;
  Unused C_EncryptUpdate;
  Unused C_EncryptFinal;
  CK_RV (*C_DecryptInit)(CK_SESSION_HANDLE hSession, CK_MECHANISM* pMechanism, CK_OBJECT_HANDLE hKey);
  CK_RV (*C_Decrypt)(CK_SESSION_HANDLE hSession, CK_BYTE* pEncryptedData, CK_ULONG ulEncryptedDataLen,
                     CK_BYTE* pData, CK_ULONG* pulDataLen);
  // The rest of the list (C_DecryptUpdate onwards) is never reached through this struct.
};

// Return values (base 2.40, section 3.7 / the CKR_ table).
constexpr CK_RV CKR_OK = 0x00;
constexpr CK_RV CKR_HOST_MEMORY = 0x02;
constexpr CK_RV CKR_SLOT_ID_INVALID = 0x03;
constexpr CK_RV CKR_GENERAL_ERROR = 0x05;
constexpr CK_RV CKR_FUNCTION_FAILED = 0x06;
constexpr CK_RV CKR_ARGUMENTS_BAD = 0x07;
constexpr CK_RV CKR_DEVICE_ERROR = 0x30;
constexpr CK_RV CKR_DEVICE_MEMORY = 0x31;
constexpr CK_RV CKR_DEVICE_REMOVED = 0x32;
constexpr CK_RV CKR_ENCRYPTED_DATA_INVALID = 0x40;
constexpr CK_RV CKR_ENCRYPTED_DATA_LEN_RANGE = 0x41;
constexpr CK_RV CKR_KEY_HANDLE_INVALID = 0x60;
constexpr CK_RV CKR_KEY_SIZE_RANGE = 0x62;
constexpr CK_RV CKR_KEY_TYPE_INCONSISTENT = 0x63;
constexpr CK_RV CKR_KEY_FUNCTION_NOT_PERMITTED = 0x68;
constexpr CK_RV CKR_MECHANISM_INVALID = 0x70;
constexpr CK_RV CKR_MECHANISM_PARAM_INVALID = 0x71;
constexpr CK_RV CKR_OPERATION_ACTIVE = 0x90;
constexpr CK_RV CKR_PIN_INCORRECT = 0xA0;
constexpr CK_RV CKR_PIN_INVALID = 0xA1;
constexpr CK_RV CKR_PIN_LEN_RANGE = 0xA2;
constexpr CK_RV CKR_PIN_EXPIRED = 0xA3;
constexpr CK_RV CKR_PIN_LOCKED = 0xA4;
constexpr CK_RV CKR_SESSION_COUNT = 0xB1;
constexpr CK_RV CKR_TOKEN_NOT_PRESENT = 0xE0;
constexpr CK_RV CKR_TOKEN_NOT_RECOGNIZED = 0xE1;
constexpr CK_RV CKR_USER_ALREADY_LOGGED_IN = 0x100;
constexpr CK_RV CKR_USER_PIN_NOT_INITIALIZED = 0x102;
constexpr CK_RV CKR_BUFFER_TOO_SMALL = 0x150;
constexpr CK_RV CKR_CRYPTOKI_NOT_INITIALIZED = 0x190;
constexpr CK_RV CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191;
constexpr CK_RV CKR_FUNCTION_REJECTED = 0x200;

// Flags.
constexpr CK_FLAGS CKF_OS_LOCKING_OK = 0x02;      // CK_C_INITIALIZE_ARGS
constexpr CK_FLAGS CKF_RW_SESSION = 0x02;         // C_OpenSession
constexpr CK_FLAGS CKF_SERIAL_SESSION = 0x04;     // C_OpenSession (always set)
constexpr CK_FLAGS CKF_USER_PIN_LOCKED = 0x40000;  // CK_TOKEN_INFO

constexpr CK_USER_TYPE CKU_USER = 1;

// Objects and attributes.
constexpr CK_OBJECT_CLASS CKO_PRIVATE_KEY = 3;
constexpr CK_OBJECT_CLASS CKO_SECRET_KEY = 4;
constexpr CK_ATTRIBUTE_TYPE CKA_CLASS = 0x000;
constexpr CK_ATTRIBUTE_TYPE CKA_LABEL = 0x003;
constexpr CK_ATTRIBUTE_TYPE CKA_KEY_TYPE = 0x100;
constexpr CK_ATTRIBUTE_TYPE CKA_ID = 0x102;
constexpr CK_ATTRIBUTE_TYPE CKA_DECRYPT = 0x105;
constexpr CK_KEY_TYPE CKK_RSA = 0x00;
constexpr CK_KEY_TYPE CKK_AES = 0x1F;

// Mechanisms and their parameters.
constexpr CK_MECHANISM_TYPE CKM_RSA_PKCS_OAEP = 0x0009;
constexpr CK_MECHANISM_TYPE CKM_SHA_1 = 0x0220;
constexpr CK_MECHANISM_TYPE CKM_SHA256 = 0x0250;
constexpr CK_MECHANISM_TYPE CKM_AES_GCM = 0x1087;
constexpr CK_RSA_PKCS_MGF_TYPE CKG_MGF1_SHA1 = 0x01;
constexpr CK_RSA_PKCS_MGF_TYPE CKG_MGF1_SHA256 = 0x02;
constexpr CK_RSA_PKCS_OAEP_SOURCE_TYPE CKZ_DATA_SPECIFIED = 0x01;

}  // namespace p11
}  // namespace strongroom
